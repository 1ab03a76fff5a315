"""
Foreman's auditable_type names for hosts, locations and organizations: the types their
audit events are recorded under.

The names live in the core rather than in the Foreman package (audits/foreman/) because the
core's search field map speaks them too (`type = host`), and the core imports no API layer.
The package audits these models under these names and links their events to locations and
organizations (audits/foreman/auditing.py).
"""

# Host::* is folded into Host::Base, as Foreman records every host type.
HOST_TYPE = "Host::Base"
LOCATION_TYPE = "Location"
ORGANIZATION_TYPE = "Organization"
TAXONOMY_TYPES = frozenset({HOST_TYPE, LOCATION_TYPE, ORGANIZATION_TYPE})
