"""The parser: tokens to a syntax tree, and the malformed queries it refuses."""

import pytest

from audits.search.errors import QueryError
from audits.search.parser import EMPTY, Comparison, Logical, Not, NullCheck, Term, parse_ast
from audits.search.schema import Operator


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
    assert parse_ast("") == parse_ast("   ") == parse_ast(None) == parse_ast("()") == EMPTY
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
