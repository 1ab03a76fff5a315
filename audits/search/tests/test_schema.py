"""Schema definitions: names, aliases, keys and operators, and the mistakes refused early."""

import pytest

from audits.search.errors import QueryError
from audits.search.schema import FieldKind, SearchField, SearchSchema
from audits.search.tests.sample import SCHEMA


def test_schema_resolves_names_aliases_and_keys():
    assert SCHEMA.resolve("created_at") is SCHEMA.resolve("time")
    keyed = SCHEMA.resolve("fields.region")
    assert (keyed.name, keyed.lookup, keyed.kind, keyed.prefix) == (
        "fields.region",
        "fields__region",
        FieldKind.STRING,
        False,
    )
    assert SCHEMA.get("nope") is None
    assert SCHEMA.get("fields.a-b") is None
    assert [f.name for f in SCHEMA.default_fields] == ["id", "user", "changes", "time"]
    assert "created_at" in SCHEMA.names


def test_field_operators_per_kind():
    assert SCHEMA.resolve("id").allowed_operators == ("=", ">", "<", "<=", ">=", "!=", "^", "!^")
    assert SCHEMA.resolve("user").allowed_operators == ("=", "!=", "~", "!~", "^", "!^")
    assert SCHEMA.resolve("time").allowed_operators == ("=", ">", "<", ">=", "<=", "!=")
    assert SCHEMA.resolve("type").allowed_operators == ("=", "!=", "^", "!^")
    assert SCHEMA.resolve("failed").allowed_operators == ("=", "!=")
    assert SCHEMA.resolve("comment").allowed_operators == ("~", "!~")


def test_search_fields_are_hashable_and_immutable():
    field = SCHEMA.resolve("type")
    assert hash(field) == hash(SCHEMA.resolve("type"))
    with pytest.raises(TypeError):
        field.values["evil"] = "x"


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda: SearchField("t", "t", FieldKind.SET),
            "'values' is required for, and only for, sets",
        ),
        (lambda: SearchField("t", "t", FieldKind.STRING, values={"a": "b"}), "only for, sets"),
        (lambda: SearchField("t", "t", FieldKind.SET, values={}), "empty set of values"),
        (
            lambda: SearchField("t", "t", FieldKind.SET, values={"a": "A"}, default=True),
            "cannot be a free-text default",
        ),
        (
            lambda: SearchField("t", "t", FieldKind.STRING, prefix=True, default=True),
            "cannot be a free-text default",
        ),
        (
            lambda: SearchField("t", "t", FieldKind.INTEGER, operators=("~",)),
            "do not apply to integer",
        ),
        (lambda: SearchField("bad name", "t", FieldKind.STRING), "not a dotted identifier"),
        (lambda: SearchField("t", "t;drop", FieldKind.STRING), "invalid lookup"),
        (
            lambda: SearchSchema(
                [
                    SearchField("a", "a", FieldKind.STRING),
                    SearchField("b", "b", FieldKind.STRING, aliases=("a",)),
                ]
            ),
            "'a' is defined twice",
        ),
    ],
)
def test_schema_definition_errors_fail_early(build, message):
    with pytest.raises(ValueError, match=message) as error:
        build()
    assert not isinstance(error.value, QueryError)
