"""The scoped_search query language: tokenizer, parser, compilation to Q, and completion.

No database: compiled queries are compared with hand-built ``Q`` objects, and the property
tests evaluate a ``Q`` against an in-memory row with ``matches`` below, a small model of how
Django evaluates the lookups this module emits.  A DB-backed property test lives elsewhere.
"""

import re
from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from django.db.models import Q
from hypothesis import given, settings
from hypothesis import strategies as st

from audits import query_language as ql
from audits.query_language import (
    Comparison,
    FieldKind,
    Logical,
    Not,
    NullCheck,
    Operator,
    QueryError,
    SearchField,
    SearchSchema,
    Term,
    TokenKind,
    complete,
    parse,
    parse_ast,
    parse_temporal,
    tokenize,
)

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


def nothing() -> Q:
    return Q(pk__in=[])


def text_free(lookup_value: str) -> Q:
    """What a plain word searches when it is neither an integer nor a date."""
    return Q(user_name__icontains=lookup_value) | Q(audited_changes__icontains=lookup_value)


# --- tokenizer ----------------------------------------------------------------------------


def kinds(query: str) -> list[str]:
    return [
        token.kind.value if token.kind is not TokenKind.COMPARE else token.operator
        for token in tokenize(query)
    ]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("a=b", ["word", "=", "word"]),
        ("a==b", ["word", "=", "word"]),
        ("a<>b a!=b", ["word", "!=", "word", "word", "!=", "word"]),
        ("a~b a!~b", ["word", "~", "word", "word", "!~", "word"]),
        (
            "a>=1 a<=1 a>1 a<1",
            ["word", ">=", "word", "word", "<=", "word", "word", ">", "word", "word", "<", "word"],
        ),
        ("a^(b,c)", ["word", "^", "(", "word", ",", "word", ")"]),
        ("a !^ (b)", ["word", "!^", "(", "word", ")"]),
        ("a&b a&&b", ["word", "and", "word", "word", "and", "word"]),
        ("a|b a||b", ["word", "or", "word", "word", "or", "word"]),
        ("!a -a", ["not", "word", "not", "word"]),
        ("AND Or nOt", ["and", "or", "not"]),
        ("set? a has a null? a", ["not_null", "word", "not_null", "word", "null", "word"]),
        ("t before x after y at z", ["word", "<", "word", ">", "word", "=", "word"]),
    ],
)
def test_tokenize_reads_operators_and_keywords(query, expected):
    assert kinds(query) == expected


def test_tokenize_keeps_dash_and_lone_bang_inside_words():
    assert [t.value for t in tokenize("a-b wow! x!y")] == ["a-b", "wow!", "x!y"]


def test_tokenize_ends_word_before_bang_operators_unlike_scoped_search():
    assert [t.text for t in tokenize("name!=x name!~y name!^(z)")] == [
        "name", "!=", "x", "name", "!~", "y", "name", "!^", "(", "z", ")",
    ]  # fmt: skip


def test_tokenize_quoted_string_unescapes_backslashes_and_is_never_a_keyword():
    tokens = tokenize(r'"and" "say \"hi\" \\ \x"')
    assert [(t.kind, t.value) for t in tokens] == [
        (TokenKind.STRING, "and"),
        (TokenKind.STRING, 'say "hi" \\ x'),
    ]


def test_tokenize_quote_inside_word_stays_part_of_the_word():
    assert [t.value for t in tokenize('a"b c')] == ['a"b', "c"]


def test_tokenize_records_source_positions():
    tokens = tokenize('  user  = "a b"')
    assert [(t.start, t.end, t.text) for t in tokens] == [
        (2, 6, "user"),
        (8, 9, "="),
        (10, 15, '"a b"'),
    ]


@pytest.mark.parametrize("query", ['user = "abc', '"', 'x "abc\\"', '"abc\\'])
def test_tokenize_unterminated_quote_is_an_error(query):
    with pytest.raises(
        QueryError, match="Unterminated quoted string starting at position"
    ) as error:
        tokenize(query)
    assert error.value.position == query.index('"')


def test_tokenize_partial_mode_returns_an_open_string():
    (*_, last) = tokenize('user = "adm', partial=True)
    assert (last.kind, last.value, last.closed) == (TokenKind.STRING, "adm", False)


@pytest.mark.parametrize(
    ("query", "problem"), [("a\x00b", "NUL"), ("a\ud800", "not valid Unicode")]
)
def test_tokenize_rejects_text_the_database_cannot_take(query, problem):
    with pytest.raises(QueryError, match=problem):
        tokenize(query)


# --- parser -------------------------------------------------------------------------------


def terms(*values: str) -> tuple[Term, ...]:
    return tuple(Term(value) for value in values)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # scoped_search's own parser specs: no precedence, right nesting, implicit AND looser.
        (
            "some simple OR keywords",
            Logical("and", (Term("some"), Logical("or", terms("simple", "keywords")))),
        ),
        (
            "some OR simple keywords",
            Logical("and", (Logical("or", terms("some", "simple")), Term("keywords"))),
        ),
        ("a and b or c", Logical("and", (Term("a"), Logical("or", terms("b", "c"))))),
        ("a or b and c", Logical("or", (Term("a"), Logical("and", terms("b", "c"))))),
        ("(a or b) and c", Logical("and", (Logical("or", terms("a", "b")), Term("c")))),
        ("a and b and c", Logical("and", terms("a", "b", "c"))),
        ("a | b || c", Logical("or", terms("a", "b", "c"))),
        ("a,b , c", Logical("and", terms("a", "b", "c"))),
        (
            "a = b > c",
            Logical(
                "and", (Comparison("a", Operator.EQ, ("b",)), Comparison(None, Operator.GT, ("c",)))
            ),
        ),
    ],
)
def test_parse_ast_follows_scoped_search_grouping(query, expected):
    assert parse_ast(query) == expected


@pytest.mark.parametrize("query", ["not x", "!x", "-x", "NOT x", "! x"])
def test_parse_ast_negation_forms(query):
    assert parse_ast(query) == Not(Term("x"))


def test_parse_ast_negates_groups_nested_negations_and_null_checks():
    assert parse_ast("!(a b)") == Not(Logical("and", terms("a", "b")))
    assert parse_ast("not !x") == Not(Not(Term("x")))
    assert parse_ast("not set? user") == Not(NullCheck("user", is_null=False))
    assert parse_ast("not a or b") == Logical("or", (Not(Term("a")), Term("b")))


def test_parse_ast_null_checks():
    assert parse_ast("set? a") == NullCheck("a", is_null=False)
    assert parse_ast("has a") == NullCheck("a", is_null=False)
    assert parse_ast("null? a") == NullCheck("a", is_null=True)


def test_parse_ast_prefix_comparison_has_no_field():
    assert parse_ast("> 22") == Comparison(None, Operator.GT, ("22",))
    assert parse_ast('before "2 days ago"') == Comparison(None, Operator.LT, ("2 days ago",))


@pytest.mark.parametrize(
    ("query", "values"),
    [
        ("a ^ (x, y)", ("x", "y")),
        ("a ^ (x y)", ("x", "y")),
        ("a^(x,y)", ("x", "y")),
        ('a ^ ("x y", z)', ("x y", "z")),
        ("a ^ x,y", ("x", "y")),
        ("a ^ x", ("x",)),
        ("a ^ (-1, 2)", ("-1", "2")),
    ],
)
def test_parse_ast_in_lists(query, values):
    assert parse_ast(query) == Comparison("a", Operator.IN, values)


def test_parse_ast_unparenthesized_list_takes_one_word_not_the_rest_of_the_query():
    assert parse_ast("a ^ x y") == Logical("and", (Comparison("a", Operator.IN, ("x",)), Term("y")))


def test_parse_ast_comma_list_stops_before_a_new_comparison():
    assert parse_ast("a ^ x, b = y") == Logical(
        "and", (Comparison("a", Operator.IN, ("x",)), Comparison("b", Operator.EQ, ("y",)))
    )


def test_parse_ast_negative_number_glued_to_operator_is_a_value():
    assert parse_ast("id > -5") == Comparison("id", Operator.GT, ("-5",))
    assert parse_ast("-5") == Not(Term("5"))


def test_parse_ast_empty_queries_and_groups():
    assert parse_ast("") == parse_ast("   ") == parse_ast(None) == parse_ast("()") == ql.EMPTY
    assert parse_ast("a () b") == Logical("and", terms("a", "b"))


def test_parse_ast_quoted_field_name_and_keyword_as_value():
    assert parse_ast('"time" at "and"') == Comparison("time", Operator.EQ, ("and",))


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("name =", "'=' at position 5 is missing a value"),
        ("name = ", "'=' at position 5 is missing a value"),
        ("action = x and", "'and' at position 11 is missing its right-hand operand"),
        ("a or", "'or' at position 2 is missing its right-hand operand"),
        ("a or )", "Unbalanced parenthesis|missing its right-hand operand"),
        ("a and or b", "'and' at position 2 is missing its right-hand operand"),
        ("not", "'not' at position 0 is missing an operand"),
        ("x !", "'!' at position 2 is missing an operand"),
        ("and a", "'and' at position 0 has no left-hand operand"),
        ("set?", "'set\\?' at position 0 is missing a value"),
        ("a = and", "Value expected after '=' but found 'and'"),
        ("a = (b)", "Value expected after '=' but found '\\('"),
        ("(a", "'\\(' at position 0 is never closed"),
        ("((a)", "'\\(' at position 0 is never closed"),
        ("a)", "unexpected '\\)' at position 1"),
        ("a) b", "unexpected '\\)' at position 1"),
        ("a ^ (b", "'\\(' at position 4 is never closed"),
        ("a ^ ()", "Empty list of values after '\\^'"),
        ("a ^ (b = c)", "Value expected in the list after '\\^' but found '='"),
        ("!()", "has nothing to negate"),
        ("not (())", "has nothing to negate"),
    ],
)
def test_parse_ast_rejects_malformed_queries(query, message):
    with pytest.raises(QueryError, match=message):
        parse_ast(query)


def test_parse_ast_limits_nesting_depth_instead_of_overflowing_the_stack():
    with pytest.raises(QueryError, match="nested more than 64 levels"):
        parse_ast("(" * 500 + "a" + ")" * 500)
    with pytest.raises(QueryError, match="nested more than 64 levels"):
        parse_ast("not " * 500 + "a")
    with pytest.raises(QueryError, match="nested more than 64 levels"):
        parse_ast(" ".join(f"a{i} {'and' if i % 2 else 'or'}" for i in range(200)) + " z")
    assert parse_ast("(" * 30 + "a" + ")" * 30) == Term("a")


def test_parse_ast_long_flat_chains_are_not_deep():
    node = parse_ast(" or ".join(f"a{i}" for i in range(2000)))
    assert isinstance(node, Logical)
    assert len(node.operands) == 2000


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
        ("user ~ a*b", Q(user_name__iregex=r"(?s)\Aa.*b\Z")),
        ("user ~ *a*b*", Q(user_name__iregex=r"(?s)\A.*a.*b.*\Z")),
        ("user ~ a.b*c+d", Q(user_name__iregex=r"(?s)\Aa\.b.*c\+d\Z")),
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


@pytest.mark.parametrize(
    ("value", "start", "end"),
    [
        ("2024-05-01", at(2024, 5, 1), at(2024, 5, 2)),
        ("2024/5/1", at(2024, 5, 1), at(2024, 5, 2)),
        ("24-05-01", at(2024, 5, 1), at(2024, 5, 2)),
        ("99-05-01", at(1999, 5, 1), at(1999, 5, 2)),
        ("2024-05", at(2024, 5, 1), at(2024, 6, 1)),
        ("2024-12", at(2024, 12, 1), at(2025, 1, 1)),
        ("January 2024", at(2024, 1, 1), at(2024, 2, 1)),
        ("Feb 2024", at(2024, 2, 1), at(2024, 3, 1)),
        ("Jan 23, 2004", at(2004, 1, 23), at(2004, 1, 24)),
        ("May 08,2024", at(2024, 5, 8), at(2024, 5, 9)),
        ("23 Jan 2004", at(2004, 1, 23), at(2004, 1, 24)),
        ("2024-05-01 10:30", at(2024, 5, 1, 10, 30), at(2024, 5, 1, 10, 31)),
        ("2024-05-01 10:30:15", at(2024, 5, 1, 10, 30, 15), at(2024, 5, 1, 10, 30, 16)),
        ("2024-05-01T10:30:15Z", at(2024, 5, 1, 10, 30, 15), at(2024, 5, 1, 10, 30, 16)),
        (
            "2024-05-01T10:30:15.25+02:00",
            at(2024, 5, 1, 8, 30, 15, 250000),
            at(2024, 5, 1, 8, 30, 16, 250000),
        ),
        ("2024-05-01 10:30 UTC", at(2024, 5, 1, 10, 30), at(2024, 5, 1, 10, 31)),
        ("2024-05-01 10:30 pm", at(2024, 5, 1, 22, 30), at(2024, 5, 1, 22, 31)),
        ("2024-05-01 12:05 am", at(2024, 5, 1, 0, 5), at(2024, 5, 1, 0, 6)),
        ("today", at(2024, 5, 15), at(2024, 5, 16)),
        ("Yesterday", at(2024, 5, 14), at(2024, 5, 15)),
        ("TOMORROW", at(2024, 5, 16), at(2024, 5, 17)),
        ("monday", at(2024, 5, 13), at(2024, 5, 14)),
        ("Wednesday", at(2024, 5, 15), at(2024, 5, 16)),
        ("Thursday", at(2024, 5, 9), at(2024, 5, 10)),
        ("2 days ago", at(2024, 5, 13), at(2024, 5, 14)),
        ("1 day ago", at(2024, 5, 14), at(2024, 5, 15)),
        ("3 weeks from now", at(2024, 6, 5), at(2024, 6, 6)),
        ("1 month ago", at(2024, 4, 15), at(2024, 4, 16)),
        ("2 years ago", at(2022, 5, 15), at(2022, 5, 16)),
        ("10 minutes ago", at(2024, 5, 15, 12, 20, 45), at(2024, 5, 15, 12, 21, 45)),
        ("1 hour from now", at(2024, 5, 15, 13, 30, 45), at(2024, 5, 15, 13, 31, 45)),
        ("  2  Days   Ago ", at(2024, 5, 13), at(2024, 5, 14)),
    ],
)
def test_parse_temporal_spans(value, start, end):
    span = parse_temporal(value, now=NOW)
    assert (span.start, span.end) == (start, end)
    assert span.start.tzinfo is UTC


def test_parse_temporal_month_arithmetic_clamps_to_month_end():
    span = parse_temporal("1 month ago", now=at(2024, 3, 31, 9))
    assert span.start == at(2024, 2, 29)


@pytest.mark.parametrize(
    "value",
    [
        "2024-13-01",
        "2024-02-30",
        "2024-05-01 25:00",
        "2024-05-01 13:00 pm",
        "Foo 1, 2024",
        "2024",
        "last week",
        "this month",
        "2 fortnights ago",
        "2024-05-01T10:30+25:00",
        "0001-01-01T00:00+02:00",
        "9999-12-31",
        "999999 years from now",
        "sun",
        "",
    ],
)
def test_parse_temporal_rejects_non_dates(value):
    assert parse_temporal(value, now=NOW) is None


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


def test_parse_day_span_follows_dst_changes():
    span = parse_temporal("2024-03-31", tz=ZoneInfo("Europe/Berlin"))
    assert span.end - span.start == timedelta(hours=23)


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


# --- schema definitions -------------------------------------------------------------------


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


def test_query_error_is_a_value_error_with_a_position():
    with pytest.raises(ValueError) as error:
        parse_ast("a = (")
    assert isinstance(error.value, QueryError)
    assert error.value.position == 4
    assert str(error.value) == error.value.message


# --- completion ---------------------------------------------------------------------------


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


# --- properties ---------------------------------------------------------------------------

_LOOKUP = re.compile(
    r"^(?P<path>.+?)(?:__(?P<op>exact|gte|gt|lte|lt|in|isnull|icontains|istartswith|iendswith|iregex))?$"
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
            results.append(re.search(expected, value, re.IGNORECASE) is not None)
    if not results:
        result = True
    elif condition.connector == Q.AND:
        result = all(results)
    else:
        result = any(results)
    return not result if condition.negated else result


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


@given(st.text("ab*%_.", max_size=8), st.text("abAB_.\n", max_size=10))
def test_property_like_pattern_matches_as_an_anchored_wildcard(pattern, value):
    condition = q(f'user ~ "{pattern}"')
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
