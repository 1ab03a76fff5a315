"""
Hosts, locations and organizations in the trail, as Foreman has them: they are audited, and
an audit event gets its locations and organizations.

Foreman (`Audit#set_taxonomies`) copies them from the audited record when the audit is
written: a Location or Organization audits into itself, anything else into the taxonomies its
`location_id`/`organization_id` point at, including the values in `audited_changes` (so moving
a host between locations shows in both, and a destroyed host keeps its context).

`foreman_auditing_register()` wires both into the core, from AuditsConfig.ready(): the write
path (audits.services) runs `audit_taxonomies_link` through its stored-events hook, so it
never imports this package.
"""

from collections.abc import Iterable
from typing import Any

from audits.auditing import audit_register
from audits.foreman.ids import is_decimal_id
from audits.models import (
    HOST_TYPE,
    LOCATION_TYPE,
    ORGANIZATION_TYPE,
    TAXONOMY_TYPES,
    AuditEvent,
    Host,
    Location,
    Organization,
)
from audits.services import audit_stored_hook_register


def foreman_auditing_register() -> None:
    """Called from AuditsConfig.ready(): hosts, locations and organizations are audited, and
    their events are linked to their taxonomies when stored."""
    audit_register(Host, type_name=HOST_TYPE, name_of=lambda host: host.name)
    audit_register(Location, type_name=LOCATION_TYPE, name_of=lambda loc: loc.title or loc.name)
    audit_register(
        Organization, type_name=ORGANIZATION_TYPE, name_of=lambda org: org.title or org.name
    )
    audit_stored_hook_register(target_types=TAXONOMY_TYPES, hook=audit_taxonomies_link)


def _ids_in_change(value: Any) -> set[int]:
    values = value if isinstance(value, list) else [value]
    return {int(v) for v in values if isinstance(v, int) or is_decimal_id(v)}


def _taxonomy_ids(event: AuditEvent, hosts: dict[str, Host]) -> tuple[set[int], set[int]]:
    if event.target_type == LOCATION_TYPE and is_decimal_id(event.target_id):
        return {int(event.target_id)}, set()
    if event.target_type == ORGANIZATION_TYPE and is_decimal_id(event.target_id):
        return set(), {int(event.target_id)}
    changes = event.audited_changes if isinstance(event.audited_changes, dict) else {}
    locations = _ids_in_change(changes.get("location_id"))
    organizations = _ids_in_change(changes.get("organization_id"))
    host = hosts.get(event.target_id)
    if host is not None:
        locations |= {host.location_id} if host.location_id else set()
        organizations |= {host.organization_id} if host.organization_id else set()
    return locations, organizations


def audit_taxonomies_link(events: Iterable[AuditEvent]) -> None:
    """Attach locations/organizations to freshly stored events that audit a host or taxonomy.

    Cheap for everything else: events of other types are skipped without a query. An event
    without a primary key would be skipped too, but every store path (COPY's included, which
    draws ids from the sequence first) assigns one before the hooks run.
    """
    relevant = [e for e in events if e.pk is not None and e.target_type in TAXONOMY_TYPES]
    if not relevant:
        return
    host_ids = [e.target_id for e in relevant if e.target_type == HOST_TYPE]
    hosts = {
        str(h.pk): h for h in Host.objects.filter(pk__in=[i for i in host_ids if is_decimal_id(i)])
    }
    location_rows, organization_rows = [], []
    for event in relevant:
        locations, organizations = _taxonomy_ids(event, hosts)
        location_rows += [(event.pk, pk) for pk in locations]
        organization_rows += [(event.pk, pk) for pk in organizations]
    _link(AuditEvent.locations.through, "location_id", Location, location_rows)
    _link(AuditEvent.organizations.through, "organization_id", Organization, organization_rows)


def _link(through, column: str, model, rows: list[tuple[int, int]]) -> None:
    if not rows:
        return
    # A destroyed taxonomy's id may linger in audited_changes; link only rows that exist.
    existing = set(model.objects.filter(pk__in={pk for _, pk in rows}).values_list("pk", flat=True))
    through.objects.bulk_create(
        [
            through(auditevent_id=event_pk, **{column: pk})
            for event_pk, pk in rows
            if pk in existing
        ],
        ignore_conflicts=True,
    )
