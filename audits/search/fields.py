"""
The audit trail's search fields: every field Foreman's `/api/audits` documents (seed 003),
plus the fields of our own event model, compiled by `audits.search.compiler`.

Three kinds of field:

- Plain columns (`action`, `id`, `time`, `comment`, `name`, `fields.<key>`, ...): the
  SearchField's lookup is the column.
- Typed references (`host`, `user`, `hostgroup`, `os`, `puppetclass`, `interface_fqdn`...):
  Foreman joins the audited record's table; we do not model hostgroups, puppet classes or
  operating systems, so these match the audited record's *type and name* as the audit stored
  them (`os = "CentOS 7"` is `target_type = 'Operatingsystem' and target_name = 'CentOS 7'`).
  `host` does the same for `Host::Base`; `interface_ip`/`interface_mac` match audits of hosts
  whose address is that value (our hosts carry their primary interface).
- Taxonomies (`location`, `organization`, `location_id`, `organization_id`): the event's
  many-to-many links, tested with `id IN (SELECT ...)` as scoped_search does for has_many, so
  an event in two locations is never listed twice.

The parser only knows ORM paths, so typed references and taxonomies use placeholder lookups
(`ref_<name>`, `tax_<name>`) that `_rewrite` swaps for the real conditions after parsing. The
swap is per leaf and keeps the leaf's lookup suffix, so `~`, `^`, `set?` and `not` keep their
parser-defined meaning.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

from django.db import connection
from django.db.models import CharField, F, Func, Q, QuerySet, TextField
from django.db.models.functions import Cast

from audits.models import (
    HOST_TYPE,
    ActorType,
    AuditEvent,
    AuditSource,
    Crud,
    Environment,
    Host,
    Location,
    Organization,
    Project,
)
from audits.search.compiler import parse as parse_query
from audits.search.document import document_narrowed
from audits.search.errors import QueryError
from audits.search.schema import FieldKind, Operator, SearchField, SearchSchema

# Foreman's `type` set (audit_search.rb: audited classes by `name.underscore`, plus aliases),
# restricted to the values its API documents. Keys are what users type; values are
# auditable_type as Foreman stores it, which is what integrations posting Foreman-shaped
# events put in target_type.
FOREMAN_TYPES: dict[str, str] = {
    "operatingsystem": "Operatingsystem",
    "role": "Role",
    "ptable": "Ptable",
    "provisioning_template": "ProvisioningTemplate",
    "user": "User",
    "auth_source": "AuthSource",
    "compute_resource": "ComputeResource",
    "host": HOST_TYPE,
    "interface": "Nic::Base",
    "location": "Location",
    "organization": "Organization",
    "os": "Operatingsystem",
    "override_value": "LookupValue",
    "parameter": "Parameter",
    "partition_table": "Ptable",
    "setting": "Setting",
    "smart_class_parameter": "PuppetclassLookupKey",
    "subnet": "Subnet",
}
# Foreman-only references: search name -> the auditable_type whose name it matches.
_TYPED_NAMES: dict[str, str] = {
    "host": HOST_TYPE,
    "hostgroup": "Hostgroup",
    "hostgroup_title": "Hostgroup",
    "os": "Operatingsystem",
    "os_title": "Operatingsystem",
    "parameter": "Parameter",
    "partition_table": "Ptable",
    "provisioning_template": "ProvisioningTemplate",
    "puppetclass": "Puppetclass",
    "setting": "Setting",
}

REF = "ref_"  # placeholder lookup prefix for typed references
TAX = "tax_"  # placeholder lookup prefix for taxonomy links

_S, _T, _I, _D = FieldKind.STRING, FieldKind.TEXT, FieldKind.INTEGER, FieldKind.DATETIME
# auditable_id is stored as text (ids come from many sources), so only equality makes sense.
_EQUALITY = (Operator.EQ, Operator.NE, Operator.IN, Operator.NOT_IN)
_CRUD_VALUES = {
    **{c.label.lower(): c.value for c in Crud},
    **{c.value: c.value for c in Crud},
}


def _fields() -> list[SearchField]:
    fields = [
        # --- Foreman's documented fields (seed 003), in its order -------------------------
        SearchField("action", "action", _S, default=True),
        SearchField("auditable_id", "target_id", _I, operators=_EQUALITY),
        SearchField("changes", "changes_text", _T),
        SearchField("comment", "comment", _S, default=True),
        *(SearchField(name, f"{REF}{name}", _S) for name in ("host", "hostgroup")),
        SearchField("hostgroup_title", f"{REF}hostgroup_title", _S),
        SearchField("id", "id", _I, default=True),
        SearchField("interface_fqdn", f"{REF}interface_fqdn", _S),
        SearchField("interface_ip", f"{REF}interface_ip", _S),
        SearchField("interface_mac", f"{REF}interface_mac", _S),
        SearchField("location", f"{TAX}location", _S),
        SearchField("location_id", f"{TAX}location_id", _I),
        SearchField("organization", f"{TAX}organization", _S),
        SearchField("organization_id", f"{TAX}organization_id", _I),
        *(
            SearchField(name, f"{REF}{name}", _S)
            for name in (
                "os",
                "os_title",
                "parameter",
                "partition_table",
                "provisioning_template",
                "puppetclass",
            )
        ),
        SearchField("remote_address", "remote_address_text", _S),
        SearchField("request_uuid", "request_uuid", _S),
        SearchField("setting", f"{REF}setting", _S),
        SearchField("time", "created_at", _D, default=True),
        SearchField("type", "target_type", FieldKind.SET, values=FOREMAN_TYPES),
        SearchField("user", f"{REF}user", _S),
        SearchField("username", "actor_name", _S, default=True),
        # --- Our own event model ------------------------------------------------------
        SearchField(
            "source", "source", FieldKind.SET, values={s.value: s.value for s in AuditSource}
        ),
        SearchField("crud", "crud", FieldKind.SET, values=_CRUD_VALUES),
        SearchField("actor", "actor_name", _S),
        SearchField("actor_type", "actor_type", _S),
        SearchField("actor_id", "actor_id", _S),
        SearchField("target", "target_name", _S, default=True),
        SearchField("target_type", "target_type", _S),
        SearchField("target_id", "target_id", _S),
        SearchField("associated", "associated_name", _S),
        SearchField("associated_type", "associated_type", _S),
        # Retraced's tenancy: project -> environment -> group (the vendor's customer).
        SearchField("project", "project", _S),
        SearchField("environment", "environment", _S),
        SearchField("group", "group_name", _S),
        SearchField("group_id", "group_id", _S),
        SearchField("name", "name", _S, default=True),
        SearchField("title", "title", _S),
        SearchField("description", "description", _T, default=True),
        SearchField("is_failure", "is_failure", FieldKind.BOOLEAN),
        SearchField("component", "component", _S),
        SearchField("external_id", "external_id", _S),
        SearchField("version", "version", _I),
        SearchField("fields", "fields", _S, prefix=True),
    ]
    return fields


AUDIT_SEARCH_SCHEMA = SearchSchema(_fields())

# Foreman's documented search fields, in its apidoc's order (metadata.search).
FOREMAN_FIELD_NAMES = [
    "action",
    "auditable_id",
    "changes",
    "comment",
    "host",
    "hostgroup",
    "hostgroup_title",
    "id",
    "interface_fqdn",
    "interface_ip",
    "interface_mac",
    "location",
    "location_id",
    "organization",
    "organization_id",
    "os",
    "os_title",
    "parameter",
    "partition_table",
    "provisioning_template",
    "puppetclass",
    "remote_address",
    "request_uuid",
    "setting",
    "time",
    "type",
    "user",
    "username",
]


# --- Placeholder rewriting ----------------------------------------------------------------


@dataclass(frozen=True)
class _Reference:
    """A virtual field: rows where `condition` holds, compared on `column`."""

    condition: Q
    column: str


def _references() -> dict[str, _Reference]:
    refs = {
        name: _Reference(Q(target_type=type_name), "target_name")
        for name, type_name in _TYPED_NAMES.items()
    }
    refs["interface_fqdn"] = _Reference(Q(target_type__startswith="Nic::"), "target_name")
    refs["user"] = _Reference(Q(actor_type=ActorType.USER), "actor_name")
    return refs


_REFERENCES = _references()
_HOST_COLUMNS = {"interface_ip": "ip_text", "interface_mac": "mac"}


def _split(lookup: str, prefix: str) -> tuple[str, str] | None:
    """('ref_host__icontains', 'ref_') -> ('host', '__icontains')."""
    if not lookup.startswith(prefix):
        return None
    name, sep, suffix = lookup[len(prefix) :].partition("__")
    return name, f"{sep}{suffix}"


def _reference_q(name: str, suffix: str, value) -> Q:
    if name in _HOST_COLUMNS:
        column = _HOST_COLUMNS[name]
        hosts = Host.objects.alias(ip_text=_address_text("ip"))
        if suffix == "__isnull":
            hosts = hosts.filter(**{f"{column}__isnull": False}).exclude(**{column: ""})
        else:
            hosts = hosts.filter(**{f"{column}{suffix}": value})
        ids = hosts.annotate(id_text=Cast("pk", CharField())).values("id_text")
        matched = Q(target_type=HOST_TYPE, target_id__in=ids)
        return ~matched if suffix == "__isnull" and value else matched
    ref = _REFERENCES[name]
    if suffix == "__isnull":
        present = ref.condition & Q(**{f"{ref.column}__isnull": False})
        return ~present if value else present
    return ref.condition & Q(**{f"{ref.column}{suffix}": value})


def _taxonomy_q(name: str, suffix: str, value) -> Q:
    kind, _, attribute = name.partition("_")
    through = (AuditEvent.locations if kind == "location" else AuditEvent.organizations).through
    links = through.objects.all()
    if suffix != "__isnull":
        column = f"{kind}_id" if attribute == "id" else f"{kind}__name"
        links = links.filter(**{f"{column}{suffix}": value})
    linked = Q(id__in=links.values("auditevent_id"))
    return ~linked if suffix == "__isnull" and value else linked


def _rewrite(q: Q) -> Q:
    rewritten = Q()
    rewritten.connector, rewritten.negated = q.connector, q.negated
    for child in q.children:
        if isinstance(child, Q):
            rewritten.children.append(_rewrite(child))
            continue
        lookup, value = child
        if (ref := _split(lookup, REF)) is not None:
            rewritten.children.append(_reference_q(*ref, value))
        elif (tax := _split(lookup, TAX)) is not None:
            rewritten.children.append(_taxonomy_q(*tax, value))
        else:
            rewritten.children.append(child)
    return rewritten


# --- Entry points -------------------------------------------------------------------------


def audit_search_q(query: str | None, *, now: datetime | None = None, tz: tzinfo = UTC) -> Q:
    """The `Q` for a search query over AuditEvent; raises QueryError naming the problem.
    On PostgreSQL each `~` on a text column also tests the search document, which one trigram
    index serves (audits.search.document)."""
    return document_narrowed(_rewrite(parse_query(query, AUDIT_SEARCH_SCHEMA, now=now, tz=tz)))


def _address_text(column: str):
    # PostgreSQL stores addresses as inet, which rejects a partial or malformed value
    # before the query runs; searching compares the address's text instead.
    if connection.vendor == "postgresql":
        return Func(F(column), function="HOST", output_field=CharField())
    return F(column)


def searchable(queryset: QuerySet[AuditEvent]) -> QuerySet[AuditEvent]:
    """The queryset with the computed columns search fields refer to (not selected)."""
    return queryset.alias(
        changes_text=Cast("audited_changes", TextField()),
        remote_address_text=_address_text("remote_address"),
    )


def audit_search(
    queryset: QuerySet[AuditEvent],
    query: str | None,
    *,
    now: datetime | None = None,
    tz: tzinfo = UTC,
) -> QuerySet[AuditEvent]:
    if not query or not query.strip():
        return queryset
    return searchable(queryset).filter(audit_search_q(query, now=now, tz=tz))


# --- Ordering -----------------------------------------------------------------------------

# Virtual fields order by the column they compare; taxonomies have none.
_ORDER_COLUMNS = {name: ref.column for name, ref in _REFERENCES.items()}
_NULLABLE = {"version", "remote_address_text"}
DEFAULT_ORDER = ("-created_at", "-id")


def audit_order_by(order: str | None) -> tuple[tuple, str | None, str | None]:
    """Parse Foreman's `order` ("<field> [ASC|DESC]") into ORM ordering and the echo
    for the envelope's `sort`. The direction is ASC or DESC in any case and defaults to ASC;
    an unknown field, another direction or more than two words is Foreman's error (a 400)."""
    if order is None or not order.strip():
        return DEFAULT_ORDER, None, None
    words = order.split()
    by = words[0]
    direction = words[1] if len(words) > 1 else "ASC"
    search_field = AUDIT_SEARCH_SCHEMA.get(by)
    column = None
    if search_field is not None and not search_field.name.startswith("fields."):
        column = _ORDER_COLUMNS.get(search_field.name, search_field.lookup)
    if column is None or column.startswith((REF, TAX)) or search_field.prefix:
        raise QueryError(f"the field '{by}' in the order statement is not valid field for search")
    if len(words) > 2 or direction.upper() not in ("ASC", "DESC"):
        raise QueryError(f"the order statement '{order}' is not '<field> ASC' or '<field> DESC'")
    descending = direction.upper() == "DESC"
    expression = F(column)
    if column in _NULLABLE:
        # scoped_search on PostgreSQL: NULLS LAST descending, NULLS FIRST ascending.
        expression = (
            expression.desc(nulls_last=True) if descending else expression.asc(nulls_first=True)
        )
    else:
        expression = expression.desc() if descending else expression.asc()
    tiebreak = F("id").desc() if descending else F("id").asc()
    return (expression, tiebreak), by, direction


# --- Auto-completion values ---------------------------------------------------------------

_VALUE_LIMIT = 20


def _distinct(queryset, column: str, typed: str) -> list[str]:
    values = queryset.filter(**{f"{column}__istartswith": typed}) if typed else queryset
    values = values.exclude(**{column: ""}).order_by(column).values_list(column, flat=True)
    return list(values.distinct()[:_VALUE_LIMIT])


def audit_search_values(search_field: SearchField, typed: str) -> Iterable[str]:
    """Values to suggest after `<field> <op>`: up to 20 distinct stored values starting with
    what was typed, for the fields where that is a short, useful list."""
    name = search_field.name
    events = AuditEvent.objects.all()
    match name:
        case "action" | "username" | "actor" | "target_type" | "actor_type" | "group":
            return _distinct(events, search_field.lookup, typed)
        case "user":
            return _distinct(events.filter(actor_type=ActorType.USER), "actor_name", typed)
        case "host" | "interface_fqdn":
            return _distinct(Host.objects.all(), "name", typed)
        case "location":
            return _distinct(Location.objects.all(), "name", typed)
        case "organization":
            return _distinct(Organization.objects.all(), "name", typed)
        # Retraced's tenancy: from its own small tables, not a scan of the events.
        case "project":
            return _distinct(Project.objects.all(), "id", typed)
        case "environment":
            return _distinct(Environment.objects.all(), "slug", typed)
    return []
