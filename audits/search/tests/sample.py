"""The sample schema and fixed clock the search language's tests share."""

from datetime import UTC, datetime

from django.db.models import Q

from audits.search.compiler import parse
from audits.search.schema import FieldKind, Operator, SearchField, SearchSchema

NOW = datetime(2024, 5, 15, 12, 30, 45, tzinfo=UTC)  # a Wednesday

SCHEMA = SearchSchema(
    [
        SearchField("id", "id", FieldKind.INTEGER, default=True),
        SearchField("user", "user_name", FieldKind.STRING, default=True),
        SearchField("changes", "audited_changes", FieldKind.TEXT, default=True),
        SearchField(
            "time", "created_at", FieldKind.DATETIME, default=True, aliases=("created_at",)
        ),
        SearchField("action", "action", FieldKind.STRING),
        SearchField("version", "version", FieldKind.INTEGER),
        SearchField(
            "type",
            "auditable_type",
            FieldKind.SET,
            values={"host": "Host::Base", "user": "User", "os": "Operatingsystem"},
        ),
        SearchField("failed", "is_failure", FieldKind.BOOLEAN),
        SearchField("fields", "fields", FieldKind.STRING, prefix=True),
        SearchField(
            "comment", "comment", FieldKind.TEXT, operators=(Operator.LIKE, Operator.UNLIKE)
        ),
    ]
)


def q(query: str, **kwargs) -> Q:
    return parse(query, SCHEMA, now=NOW, **kwargs)


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)
