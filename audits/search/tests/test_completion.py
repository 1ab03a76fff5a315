"""Auto-completion: suggestions in the shape of Foreman's ``auto_complete_search``."""

import pytest

from audits.search.completion import complete
from audits.search.dates import parse_temporal
from audits.search.errors import QueryError
from audits.search.tests.sample import NOW, SCHEMA


def labels(query: str, **kwargs) -> list[str]:
    return [item["label"] for item in complete(query, SCHEMA, now=NOW, **kwargs)]


def test_complete_empty_query_offers_fields_and_prefix_operators():
    items = complete("", SCHEMA)
    assert [i["label"] for i in items] == [
        "id", "user", "changes", "time", "created_at", "action", "version", "type", "failed", "fields.",
        "comment", "not", "has",
    ]  # fmt: skip
    assert items[0] == {"completed": "", "part": "id", "label": "id", "category": ""}
    assert items[-1] == {"completed": "", "part": "has", "label": "has", "category": "Operators"}


def test_complete_filters_a_field_being_typed():
    assert labels("us") == ["user"]
    assert labels("t") == ["time", "type"]
    assert labels("user = a and ac") == ["user = a and action"]


def test_complete_after_a_field_offers_its_operators():
    assert labels("version ") == [
        f"version {op}" for op in ("=", ">", "<", "<=", ">=", "!=", "^", "!^")
    ]
    assert labels("failed ") == ["failed =", "failed !="]


def test_complete_values_of_sets_and_booleans():
    assert labels("type = ") == ["type = host", "type = user", "type = os"]
    assert labels("type = h") == ["type = host"]
    assert labels("failed != ") == ["failed != true", "failed != false"]


def test_complete_values_from_callback_quotes_when_needed():
    seen = []

    def values_for(field, typed):
        seen.append((field.name, typed))
        return ["admin", "Jane Doe", 'say "x"', "and"]

    assert labels("user = ", values_for=values_for) == [
        "user = admin",
        'user = "Jane Doe"',
        'user = "say \\"x\\""',
        'user = "and"',
    ]
    assert labels('user = "Ja', values_for=values_for) == ['user = "Jane Doe"']
    assert seen == [("user", ""), ("user", "Ja")]


def test_complete_dates_offers_scoped_searchs_fixed_list_all_parseable():
    values = [label.removeprefix("time < ") for label in labels("time < ")]
    assert values[:6] == [
        '"30 minutes ago"',
        '"1 hour ago"',
        '"2 hours ago"',
        "Today",
        "Yesterday",
        "Tomorrow",
    ]
    assert values[6:10] == ["Monday", "Sunday", "Saturday", "Friday"]
    assert values[-2:] == ['"May 08,2024"', '"2 weeks from now"']
    for value in values:
        assert parse_temporal(value.strip('"'), now=NOW) is not None, value


def test_complete_after_an_expression_offers_connectors_with_foremans_split():
    items = complete("user = admin ", SCHEMA)
    assert items[0] == {
        "completed": "user = admin ",
        "part": "and",
        "label": "user = admin and",
        "category": "Operators",
    }
    assert items[1]["label"] == "user = admin or"
    after_and = complete("user = admin and action = ", SCHEMA, values_for=lambda f, t: ["create"])
    assert after_and == [
        {
            "completed": "user = admin ",
            "part": "and action = create",
            "label": "user = admin and action = create",
            "category": "",
        }
    ]


def test_complete_escapes_html_in_completed_and_part_like_foreman():
    (item,) = complete("version <", SCHEMA, values_for=lambda f, t: ["1"])[:1]
    assert item["label"] == "version < 1"
    assert item["part"] == "version &lt; 1"


def test_complete_after_not_and_null_checks_offers_fields_only():
    assert "not" not in labels("not ")
    assert labels("has us") == ["has user"]
    assert labels("set? fi") == ["set? fields."]
    assert labels("set? f") == ["set? failed", "set? fields."]


def test_complete_validates_the_query_so_far():
    with pytest.raises(QueryError, match="Field 'foo' not recognized"):
        complete("foo = ", SCHEMA)
    with pytest.raises(QueryError, match="Operator '~' is not valid for field 'id'"):
        complete("id ~ ", SCHEMA)
    with pytest.raises(QueryError, match="Field 'nope' not recognized"):
        complete("has nope ", SCHEMA)


def test_complete_free_text_word_is_not_an_error():
    assert labels("foo ")[:2] == ["foo and", "foo or"]
