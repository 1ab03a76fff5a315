"""Compiling queries to ``Q``: fields of every kind, dates, free text and prefix comparisons.

No database: compiled queries are compared with hand-built ``Q`` objects.
"""

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from django.db.models import Q

from audits.search.compiler import parse
from audits.search.errors import QueryError
from audits.search.schema import FieldKind, SearchField, SearchSchema
from audits.search.tests.sample import NOW, SCHEMA, at, q


def nothing() -> Q:
    return Q(pk__in=[])


def text_free(lookup_value: str) -> Q:
    """What a plain word searches when it is neither an integer nor a date."""
    return Q(user_name__icontains=lookup_value) | Q(audited_changes__icontains=lookup_value)


# --- compilation: explicit fields ---------------------------------------------------------


def test_parse_empty_query_matches_everything():
    assert q("") == Q()
    assert q("   ") == Q()
    assert parse(None, SCHEMA) == Q()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("user = admin", Q(user_name="admin")),
        ("user == admin", Q(user_name="admin")),
        ('user = "Jane Doe"', Q(user_name="Jane Doe")),
        ("user != admin", Q(user_name__isnull=False) & ~Q(user_name="admin")),
        ("user<>admin", Q(user_name__isnull=False) & ~Q(user_name="admin")),
        ("user ~ adm", Q(user_name__icontains="adm")),
        ("user !~ adm", Q(user_name__isnull=False) & ~Q(user_name__icontains="adm")),
        ("user ^ (a, b)", Q(user_name__in=["a", "b"])),
        ("user !^ (a, b)", Q(user_name__isnull=False) & ~Q(user_name__in=["a", "b"])),
        ("user!=x", Q(user_name__isnull=False) & ~Q(user_name="x")),
        ("user^(a,b)", Q(user_name__in=["a", "b"])),
        ("user at admin", Q(user_name="admin")),
        (
            "created_at at yesterday",
            Q(created_at__gte=at(2024, 5, 14), created_at__lt=at(2024, 5, 15)),
        ),
    ],
)
def test_parse_text_fields(query, expected):
    assert q(query) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("user ~ adm*", Q(user_name__istartswith="adm")),
        ("user ~ %adm", Q(user_name__iendswith="adm")),
        ("user ~ *adm%", Q(user_name__icontains="adm")),
        ("user ~ **adm**", Q(user_name__icontains="adm")),
        ("user ~ *", Q(user_name__isnull=False)),
        ("user ~ a*b", Q(user_name__ilike="a%b")),
        ("user ~ *a*b*", Q(user_name__ilike="%a%b%")),
        ("user ~ a.b*c+d", Q(user_name__ilike="a.b%c+d")),
        # "_" and the escape character are literal in LIKE's pattern, wherever they appear.
        ('user ~ "a_b*c\\\\d"', Q(user_name__ilike=r"a\_b%c\\d")),
        ("user ~ _*_", Q(user_name__ilike=r"\_%\_")),
        ("user ~ grub_pass", Q(user_name__icontains="grub_pass")),
    ],
)
def test_parse_like_wildcards(query, expected):
    assert q(query) == expected


def test_parse_like_refuses_patterns_with_too_many_wildcards():
    assert q("user ~ " + "a*" * 8 + "a")
    with pytest.raises(QueryError, match="more than 8 wildcards"):
        q("user ~ " + "a*" * 9 + "a")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("id = 42", Q(id=42)),
        ("id != 42", Q(id__isnull=False) & ~Q(id=42)),
        ("id > 5", Q(id__gt=5)),
        ("id >= 5", Q(id__gte=5)),
        ("id < -5", Q(id__lt=-5)),
        ("id <= 5", Q(id__lte=5)),
        ("id ^ (1, 2, 3)", Q(id__in=[1, 2, 3])),
        ("id !^ (1, 2)", Q(id__isnull=False) & ~Q(id__in=[1, 2])),
    ],
)
def test_parse_integer_fields(query, expected):
    assert q(query) == expected


@pytest.mark.parametrize(
    "query",
    [
        "id = abc",
        "id = 1.5",
        "id ^ (1, x)",
        "id = 99999999999999999999",
        "id = ١٢",
        "id = 9223372036854775808",
    ],
)
def test_parse_integer_field_rejects_non_integers(query):
    with pytest.raises(QueryError, match="is not a valid integer for field 'id'"):
        q(query)


def test_parse_integer_field_accepts_the_64_bit_range():
    assert q("id = -9223372036854775808") == Q(id=-(2**63))
    assert q("id = 9223372036854775807") == Q(id=2**63 - 1)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("type = host", Q(auditable_type="Host::Base")),
        ("type != os", Q(auditable_type__isnull=False) & ~Q(auditable_type="Operatingsystem")),
        ("type ^ (host, user)", Q(auditable_type__in=["Host::Base", "User"])),
        ("type !^ (host)", Q(auditable_type__isnull=False) & ~Q(auditable_type__in=["Host::Base"])),
    ],
)
def test_parse_set_fields_translate_values(query, expected):
    assert q(query) == expected


def test_parse_set_field_unknown_value_lists_the_allowed_ones():
    with pytest.raises(
        QueryError,
        match="Value 'Host' is not valid for field 'type'; allowed values: host, user, os",
    ):
        q("type = Host")


@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", True), ("YES", True), ("1", True), ("False", False), ("no", False), ("0", False)],
)
def test_parse_boolean_fields(value, expected):
    assert q(f"failed = {value}") == Q(is_failure=expected)
    assert q(f"failed != {value}") == Q(is_failure__isnull=False) & ~Q(is_failure=expected)


def test_parse_boolean_field_rejects_other_values():
    with pytest.raises(QueryError, match="Value 'maybe' is not valid for boolean field 'failed'"):
        q("failed = maybe")


def test_parse_bare_boolean_field_name_means_true():
    assert q("failed") == Q(is_failure=True)
    assert q("not failed") == ~Q(is_failure=True)


def test_parse_null_checks():
    assert q("null? user") == Q(user_name__isnull=True)
    assert q("set? user") == Q(user_name__isnull=False) & ~Q(user_name="")
    assert q("has user") == q("set? user")
    assert q("set? id") == Q(id__isnull=False)
    assert q("not has time") == ~Q(created_at__isnull=False)


def test_parse_prefix_field_maps_key_to_json_lookup():
    assert q("fields.region = eu") == Q(fields__region="eu")
    assert q("fields.region ~ e*") == Q(fields__region__istartswith="e")
    assert q("null? fields.region") == Q(fields__region__isnull=True)
    assert q("has fields") == Q(fields__isnull=False) & ~Q(fields="")


@pytest.mark.parametrize("key", ["a-b", "a__b", "contains", "isnull", "1x", ""])
def test_parse_prefix_field_rejects_unsafe_keys(key):
    with pytest.raises(QueryError, match=f"Invalid key '{key}' for field 'fields'"):
        q(f"fields.{key} = x")


def test_parse_unknown_field_uses_foremans_message():
    with pytest.raises(
        QueryError, match=rf"^{re.escape("Field 'foo' not recognized for searching!")}$"
    ):
        q("foo = bar")
    with pytest.raises(QueryError, match="Field 'foo' not recognized"):
        q("set? foo")
    with pytest.raises(QueryError, match=re.escape("Field 'user.x' not recognized")):
        q("user.x = 1")


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            "id ~ 5",
            "Operator '~' is not valid for field 'id' \\(integer\\); use one of: = > < <= >= != \\^ !\\^",
        ),
        ("user > a", "Operator '>' is not valid for field 'user' \\(string\\)"),
        ("time ^ (today)", "Operator '\\^' is not valid for field 'time' \\(datetime\\)"),
        ("type ~ ho", "Operator '~' is not valid for field 'type' \\(set\\)"),
        ("failed > 1", "Operator '>' is not valid for field 'failed' \\(boolean\\)"),
        (
            "comment = x",
            "Operator '=' is not valid for field 'comment' \\(text\\); use one of: ~ !~",
        ),
    ],
)
def test_parse_rejects_operators_the_field_kind_does_not_support(query, message):
    with pytest.raises(QueryError, match=message):
        q(query)


def test_parse_not_negates_whole_condition_so_null_rows_match():
    # scoped_search: NOT COALESCE(expr, false); Django's ~Q keeps NULL rows on nullable columns.
    assert q("not user = admin") == ~Q(user_name="admin")
    assert q("-(user = a or id = 1)") == ~(Q(user_name="a") | Q(id=1))


def test_parse_combines_conditions_with_and_or():
    assert q("user = a and id = 1 or id = 2") == Q(user_name="a") & (Q(id=1) | Q(id=2))
    assert q("user = a id = 1") == Q(user_name="a") & Q(id=1)


# --- compilation: dates -------------------------------------------------------------------


MAY_1 = (at(2024, 5, 1), at(2024, 5, 2))


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("time = 2024-05-01", Q(created_at__gte=MAY_1[0], created_at__lt=MAY_1[1])),
        (
            "time != 2024-05-01",
            Q(created_at__isnull=False) & ~Q(created_at__gte=MAY_1[0], created_at__lt=MAY_1[1]),
        ),
        ("time > 2024-05-01", Q(created_at__gte=at(2024, 5, 2))),
        ("time after 2024-05-01", Q(created_at__gte=at(2024, 5, 2))),
        ("time <= 2024-05-01", Q(created_at__lt=at(2024, 5, 2))),
        ("time < 2024-05-01", Q(created_at__lt=at(2024, 5, 1))),
        ("time before 2024-05-01", Q(created_at__lt=at(2024, 5, 1))),
        ("time >= 2024-05-01", Q(created_at__gte=at(2024, 5, 1))),
    ],
)
def test_parse_date_operators_use_the_whole_day(query, expected):
    assert q(query) == expected


def test_parse_unparseable_date_is_an_error_not_ignored():
    with pytest.raises(
        QueryError, match=rf"{re.escape("Value 'someday' is not a valid date for field 'time'")}$"
    ):
        q("time > someday")


def test_parse_unquoted_relative_date_error_suggests_quoting():
    with pytest.raises(QueryError, match=re.escape('quote relative dates, e.g. "2 days ago"')):
        q("time > 2 days ago")


def test_parse_relative_dates_in_keyword_forms():
    assert q('created_at before "2 days ago"') == Q(created_at__lt=at(2024, 5, 13))
    assert q('time after "10 minutes ago"') == Q(created_at__gte=at(2024, 5, 15, 12, 21, 45))
    assert q("time at today") == Q(created_at__gte=at(2024, 5, 15), created_at__lt=at(2024, 5, 16))


def test_parse_reads_dates_in_the_given_time_zone():
    berlin = ZoneInfo("Europe/Berlin")
    assert q("time = 2024-05-01", tz=berlin) == Q(
        created_at__gte=at(2024, 4, 30, 22), created_at__lt=at(2024, 5, 1, 22)
    )
    # 23:30 UTC on the 15th is already the 16th in Berlin.
    late = datetime(2024, 5, 15, 23, 30, tzinfo=UTC)
    assert parse("time = today", SCHEMA, now=late, tz=berlin) == Q(
        created_at__gte=at(2024, 5, 15, 22), created_at__lt=at(2024, 5, 16, 22)
    )


def test_parse_uses_django_timezone_now_once_when_no_clock_is_given(monkeypatch):
    calls = []

    def fake_now():
        calls.append(1)
        return NOW

    monkeypatch.setattr("django.utils.timezone.now", fake_now)
    assert parse("time > yesterday time < tomorrow", SCHEMA) == Q(
        created_at__gte=at(2024, 5, 15)
    ) & Q(created_at__lt=at(2024, 5, 16))
    assert len(calls) == 1
    parse("user = x time = 2024-01-01", SCHEMA)
    assert len(calls) == 1  # no relative date, no clock read


def test_parse_refuses_a_naive_clock():
    with pytest.raises(ValueError, match="timezone-aware"):
        parse("time = today", SCHEMA, now=datetime(2024, 1, 1))


# --- compilation: free text and prefix comparisons ----------------------------------------


def test_parse_free_text_searches_text_default_fields():
    assert q("foo") == text_free("foo")
    assert q('"two words"') == text_free("two words")


def test_parse_free_text_integer_also_searches_integer_default_fields():
    assert q("42") == Q(id=42) | text_free("42")


def test_parse_free_text_date_also_searches_datetime_default_fields():
    assert q("2024-05-01") == text_free("2024-05-01") | Q(
        created_at__gte=MAY_1[0], created_at__lt=MAY_1[1]
    )


def test_parse_free_text_words_are_anded_and_wildcards_apply():
    assert q("foo bar") == text_free("foo") & text_free("bar")
    assert q("adm*") == Q(user_name__istartswith="adm") | Q(audited_changes__istartswith="adm")


def test_parse_free_text_never_uses_set_or_non_default_fields():
    assert "auditable_type" not in str(q("host"))
    assert "action" not in str(q("create"))


def test_parse_free_text_with_no_default_fields_matches_nothing():
    schema = SearchSchema([SearchField("id", "id", FieldKind.INTEGER, default=True)])
    assert parse("foo", schema) == nothing()
    assert parse("not foo", schema) == ~nothing()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("> 22", Q(id__gt=22)),
        ("= 22", Q(id=22) | Q(user_name="22") | Q(audited_changes="22")),
        ("~ adm", Q(user_name__icontains="adm") | Q(audited_changes__icontains="adm")),
        ("> 2024-05-01", Q(created_at__gte=at(2024, 5, 2))),
        ('before "2 days ago"', Q(created_at__lt=at(2024, 5, 13))),
        ("> foo", nothing()),
        (
            "^ (a, 1)",
            (Q(user_name="a") | Q(audited_changes="a"))
            | (Q(id=1) | Q(user_name="1") | Q(audited_changes="1")),
        ),
        (
            "!^ (a, b)",
            (
                (Q(user_name__isnull=False) & ~Q(user_name="a"))
                | (Q(audited_changes__isnull=False) & ~Q(audited_changes="a"))
            )
            & (
                (Q(user_name__isnull=False) & ~Q(user_name="b"))
                | (Q(audited_changes__isnull=False) & ~Q(audited_changes="b"))
            ),
        ),
    ],
)
def test_parse_prefix_comparison_applies_to_default_fields_that_accept_it(query, expected):
    assert q(query) == expected


def test_parse_validator_vets_whole_values_but_not_patterns():
    def is_ip(value: str) -> bool:
        return value.count(".") == 3 and all(part.isdigit() for part in value.split("."))

    schema = SearchSchema(
        [SearchField("ip", "remote_address", FieldKind.STRING, default=True, validator=is_ip)]
    )
    assert parse("ip = 10.0.0.1", schema) == Q(remote_address="10.0.0.1")
    assert parse("ip ~ 10.0", schema) == Q(remote_address__icontains="10.0")
    assert parse("10.0", schema) == Q(remote_address__icontains="10.0")
    assert parse("= 10.0", schema) == nothing()  # the only default field cannot take it
    with pytest.raises(QueryError, match=r"^Value 'x' is not valid for field 'ip'$"):
        parse("ip = x", schema)
    with pytest.raises(QueryError, match="Value 'nope' is not valid for field 'ip'"):
        parse("ip ^ (10.0.0.1, nope)", schema)
