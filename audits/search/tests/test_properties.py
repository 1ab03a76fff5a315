"""Properties of the whole language, over generated queries.

No database: the property tests evaluate a ``Q`` against an in-memory row with ``matches``
below, a small model of how Django evaluates the lookups the compiler emits.  The DB-backed
property test over the audit field map is in ``test_fields.py``.
"""

import re
from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from django.db.models import Q
from hypothesis import given, settings
from hypothesis import strategies as st

from audits.search.compiler import parse
from audits.search.completion import complete
from audits.search.errors import QueryError
from audits.search.parser import Comparison, parse_ast
from audits.search.schema import Operator
from audits.search.tests.sample import NOW, SCHEMA, q
from audits.search.tokens import tokenize

_LOOKUP = re.compile(
    r"^(?P<path>.+?)(?:__(?P<op>exact|gte|gt|lte|lt|in|isnull|icontains|istartswith|iendswith|ilike))?$"
)


def matches(condition: Q, row: dict[str, object]) -> bool:
    """Evaluate ``condition`` on ``row`` as Django does for single-valued columns: a lookup on
    NULL is false (except isnull), and ~ negates the whole condition, NULL rows included."""
    results = []
    for child in condition.children:
        if isinstance(child, Q):
            results.append(matches(child, row))
            continue
        lookup, expected = child
        parts = _LOOKUP.match(lookup)
        value = row.get(parts["path"])
        op = parts["op"] or "exact"
        if op == "isnull":
            results.append((value is None) == expected)
        elif value is None:
            results.append(False)
        elif op == "in":
            results.append(value in expected)
        elif op == "exact":
            results.append(value == expected)
        elif op in ("gt", "gte", "lt", "lte"):
            results.append(
                {
                    "gt": value > expected,
                    "gte": value >= expected,
                    "lt": value < expected,
                    "lte": value <= expected,
                }[op]
            )
        elif op == "icontains":
            results.append(expected.lower() in value.lower())
        elif op == "istartswith":
            results.append(value.lower().startswith(expected.lower()))
        elif op == "iendswith":
            results.append(value.lower().endswith(expected.lower()))
        else:
            results.append(_like_regex(expected).fullmatch(value) is not None)
    if not results:
        result = True
    elif condition.connector == Q.AND:
        result = all(results)
    else:
        result = any(results)
    return not result if condition.negated else result


def _like_regex(pattern: str) -> re.Pattern[str]:
    """SQL LIKE with ``\\`` as the escape character, case-insensitively, as a regex."""
    parts, escaped = [], False
    for char in pattern:
        if escaped:
            parts.append(re.escape(char))
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "%":
            parts.append(".*")
        elif char == "_":
            parts.append(".")
        else:
            parts.append(re.escape(char))
    assert not escaped, f"LIKE pattern {pattern!r} ends in its escape character"
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)


# Fragments that reach every branch of the grammar and of the compiler.
_FRAGMENTS = st.sampled_from(
    [
        "user", "id", "time", "type", "failed", "fields.k", "fields.", "comment", "nope", "created_at",
        "=", "==", "!=", "<>", "~", "!~", ">", "<", ">=", "<=", "^", "!^", "&", "&&", "|", "||", "!", "-",
        "and", "or", "not", "set?", "has", "null?", "before", "after", "at",
        "(", ")", ",", '"', "\\", "*", "%", "_", " ", "  ",
        "host", "os", "true", "yes", "0", "42", "-5", "1.5", "99999999999999999999",
        "2024-05-01", '"2024-05-01 10:30"', '"2 days ago"', "today", "Monday", "2024-05", '"Jan 23, 2004"',
        "adm*in", '"a b"', '"x\\"y"', "é", "\u00a0",
    ]
)  # fmt: skip


_QUERIES = st.one_of(
    st.text(max_size=60),
    st.lists(_FRAGMENTS, max_size=14).map("".join),
    st.lists(_FRAGMENTS, max_size=14).map(" ".join),
)


@settings(max_examples=600, deadline=None)
@given(_QUERIES)
def test_property_parse_returns_q_or_raises_query_error(query):
    try:
        result = parse(query, SCHEMA, now=NOW)
    except QueryError as error:
        assert str(error)
    else:
        assert isinstance(result, Q)


@settings(max_examples=400, deadline=None)
@given(_QUERIES)
def test_property_complete_returns_items_or_raises_query_error(query):
    try:
        items = complete(query, SCHEMA, now=NOW, values_for=lambda field, typed: [typed, "x y"])
    except QueryError:
        return
    for item in items:
        assert set(item) == {"completed", "part", "label", "category"}
        assert item["category"] in ("", "Operators")


@given(st.text(max_size=40))
def test_property_tokens_are_ordered_slices_of_the_query(query):
    try:
        tokens = tokenize(query)
    except QueryError:
        return
    end = 0
    for token in tokens:
        assert end <= token.start < token.end
        assert query[token.start : token.end] == token.text
        assert query[end : token.start].strip() == ""
        end = token.end
    assert query[end:].strip() == ""


_SAFE_TEXT = st.text(
    st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=30
)


@given(_SAFE_TEXT)
def test_property_any_string_survives_quoting(value):
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    assert parse_ast(f'user = "{escaped}"') == Comparison("user", Operator.EQ, (value,))


@given(_SAFE_TEXT.filter(lambda v: "*" not in v and "%" not in v))
def test_property_like_without_wildcards_is_an_exact_substring_search(value):
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    assert q(f'user ~ "{escaped}"') == Q(user_name__icontains=value)


_DATE_VALUES = st.one_of(
    st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31)).map(lambda d: d.isoformat()),
    st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31)).map(
        lambda d: d.strftime("%Y-%m")
    ),
    st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2100, 1, 1)).map(
        lambda d: d.strftime("%Y-%m-%d %H:%M")
    ),
    st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2100, 1, 1)).map(
        lambda d: d.strftime("%Y-%m-%d %H:%M:%S")
    ),
    st.sampled_from(
        [
            "today",
            "yesterday",
            "tomorrow",
            "Friday",
            "3 days ago",
            "10 minutes ago",
            "2 hours from now",
        ]
    ),
)


_INSTANTS = st.datetimes(
    min_value=datetime(1899, 12, 30), max_value=datetime(2101, 1, 2), timezones=st.just(UTC)
)


@settings(max_examples=300)
@given(
    _DATE_VALUES,
    _INSTANTS,
    st.sampled_from([UTC, ZoneInfo("Europe/Berlin"), timezone(timedelta(hours=-7))]),
)
def test_property_date_operators_partition_time(value, instant, tz):
    row = {"created_at": instant}

    def holds(operator: str) -> bool:
        return matches(parse(f'time {operator} "{value}"', SCHEMA, now=NOW, tz=tz), row)

    before, equal, after = holds("<"), holds("="), holds(">")
    assert [before, equal, after].count(True) == 1
    assert holds("<=") == (before or equal)
    assert holds(">=") == (equal or after)
    assert holds("!=") == (not equal)


@given(st.text("ab*%_.\\", max_size=8), st.text("abAB_.\\\n", max_size=10))
def test_property_like_pattern_matches_as_an_anchored_wildcard(pattern, value):
    # "_" and "\\" are literal: neither LIKE's any-character nor its escape character.
    quoted = pattern.replace("\\", "\\\\")
    condition = q(f'user ~ "{quoted}"')
    if "*" in pattern or "%" in pattern:
        expected = re.fullmatch(
            ".*".join(re.escape(part) for part in re.split(r"[*%]+", pattern)),
            value,
            re.IGNORECASE | re.DOTALL,
        )
    else:
        expected = pattern.lower() in value.lower()
    assert matches(condition, {"user_name": value}) == bool(expected)


def test_matches_models_null_semantics_of_ne_and_not():
    null_row = {"user_name": None}
    assert not matches(q("user != admin"), null_row)
    assert matches(q("not user = admin"), null_row)
    assert not matches(q("user = admin"), null_row)
