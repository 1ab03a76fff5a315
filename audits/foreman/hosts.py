"""
Foreman's hosts: the fields `/api/hosts?search=` knows, and which audits are a host's
(`/api/hosts/:host_id/audits`).
"""

from django.db.models import Q

from audits.foreman.ids import is_decimal_id
from audits.models import HOST_TYPE, Host
from audits.search.schema import FieldKind, SearchField, SearchSchema

HOST_SEARCH_SCHEMA = SearchSchema(
    [
        SearchField("name", "name", FieldKind.STRING, default=True),
        SearchField("ip", "ip", FieldKind.STRING),
        SearchField("mac", "mac", FieldKind.STRING),
        SearchField("comment", "comment", FieldKind.TEXT),
        SearchField("location", "location__name", FieldKind.STRING),
        SearchField("location_id", "location_id", FieldKind.INTEGER),
        SearchField("organization", "organization__name", FieldKind.STRING),
        SearchField("organization_id", "organization_id", FieldKind.INTEGER),
        SearchField("id", "id", FieldKind.INTEGER),
    ]
)


def host_audits_q(host_id: str) -> Q:
    """Audits whose auditable is the host (Foreman's parent scope), by id or by name. A name
    no current host has still finds a destroyed host's audits by their recorded name."""
    if is_decimal_id(str(host_id)):
        return Q(target_type=HOST_TYPE, target_id=str(host_id))
    host = Host.objects.filter(name=host_id).first()
    if host is not None:
        return Q(target_type=HOST_TYPE, target_id=str(host.pk))
    return Q(target_type=HOST_TYPE, target_name=host_id)
