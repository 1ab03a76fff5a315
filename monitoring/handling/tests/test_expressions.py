"""
The eval: language, standing in for Sensu's Ruby sandbox (sensu/lib/sensu/utilities.rb
eval_attribute_value and process_eval_string).
"""

import pytest

from monitoring.handling.expressions import (
    MAX_EXPRESSION_CHARS,
    MAX_NESTING,
    ExpressionError,
    expression_compile,
)


@pytest.mark.parametrize(
    ("text", "value", "expected"),
    [
        ("eval: value > 2", 3, True),
        ("value > 2", 2, False),
        ("value >= 2 and value <= 5", 5, True),
        ("value < 2 or value > 5", 3, False),
        ("value == 'production'", "production", True),
        ('value != "production"', "staging", True),
        ("value == true", True, True),
        ("value == nil", None, True),
        ("value.nil?", None, True),
        ("!value", False, True),
        ("not (value > 1 && value < 3)", 2, False),
        ("value > -1", 0, True),
        ("value == 1.5", 1.5, True),
        ("value == 1", 1.0, True),  # Ruby: 1 == 1.0
        ("value.to_i > 90", "95%", True),
        ("value.to_f < 0.5", "0.25", True),
        ("value.to_s == '3'", 3, True),
        ("['web', 'db'].include?(value)", "db", True),
        ("value.include?('prod')", "production", True),
        ("value.include? 'x'", ["x", "y"], True),
        ("value.length == 3", "abc", True),
        ("value.downcase == 'web'", "WEB", True),
        ("value.start_with?('i-')", "i-424242", True),
        ("value.empty?", [], True),
    ],
)
def test_expression_evaluates_as_ruby(text, value, expected):
    assert expression_compile(text)(value) is expected


def test_only_nil_and_false_are_false_as_in_ruby():
    assert expression_compile("value")(0) is True
    assert expression_compile("value")("") is True
    assert expression_compile("value")(None) is False
    assert expression_compile("value && 0")(1) is True


@pytest.mark.parametrize(
    ("text", "value", "expected"),
    [
        ("!value == false", True, True),  # (!value) == false: `!` binds tightest.
        ("not value == 1", 1, False),  # not (value == 1): `not` binds loosest but and/or.
        ("true or false and false", None, False),  # (true or false) and false
        ("true || false && false", None, True),  # true || (false && false)
        ("value > 1 == true", 2, True),  # (value > 1) == true
        ("not value and value", None, False),
    ],
)
def test_precedence_is_rubys(text, value, expected):
    assert expression_compile(text)(value) is expected


def test_true_is_not_one_and_a_string_is_not_a_number():
    assert expression_compile("value == 1")(True) is False
    assert expression_compile("value == 1")("1") is False


def test_comparing_a_string_with_a_number_is_false_not_an_exception():
    # Ruby raises ArgumentError; eval_attribute_value rescues it and returns false.
    assert expression_compile("value > 2")("3") is False
    assert expression_compile("not (value > 2)")("3") is False
    assert expression_compile("value.to_i > 2")(True) is False


def test_tokens_are_looked_up_in_the_event_like_substitute_tokens():
    event = {"client": {"name": "web-1", "max": 80}, "check": {}}
    assert expression_compile("value == ':::client.name:::'")("web-1", event) is True
    assert expression_compile("value > :::client.max:::")(90, event) is True
    assert expression_compile("value > :::check.limit|50:::")(60, event) is True
    # An unmatched token without a default: Sensu logs it and the attribute does not match.
    assert expression_compile("value > :::check.limit:::")(60, event) is False


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("system('rm -rf /')", "'system'"),
        ("`id`", "'`'"),
        ("value.send(:exit)", "':'"),
        ("value.instance_eval", "instance_eval"),
        ("__import__('os')", "'__import__'"),
        ("value; exit", "';'"),
        ('"#{exit}"', "interpolation"),
        ("1 < value < 3", "Chained comparisons"),
        ("value ==", "ends too early"),
        ("(value", "Expected ')'"),
        ("'unterminated", "Unterminated string"),
        ("", "empty"),
        ("value = 1", "'='"),
        ("value 1", "'1'"),
    ],
)
def test_anything_else_is_rejected_naming_what(text, named):
    with pytest.raises(ExpressionError) as raised:
        expression_compile(text)
    assert named in str(raised.value)


def test_hostile_lengths_and_depths_are_refused_at_once():
    with pytest.raises(ExpressionError, match="characters long"):
        expression_compile("value == 1 or " * 1000 + "true")
    deep = "(" * (MAX_NESTING + 1) + "value" + ")" * (MAX_NESTING + 1)
    with pytest.raises(ExpressionError, match="nests deeper"):
        expression_compile(deep)
    with pytest.raises(ExpressionError, match="nests deeper"):
        expression_compile("!" * (MAX_NESTING + 1) + "value")
    # The longest accepted text is still a plain expression compiled once.
    longest = " or ".join(["value == 1"] * (MAX_EXPRESSION_CHARS // 14))
    assert len(longest) <= MAX_EXPRESSION_CHARS
    assert expression_compile(longest)(1) is True


def test_hostile_nesting_fails_on_the_bound_not_on_python_recursion():
    # Without the depth bound these would end in RecursionError deep in the parser.
    for hostile in ("[" * 600, "not " * 250 + "value", "value.include?(" * 60 + "1"):
        with pytest.raises(ExpressionError, match="nests deeper"):
            expression_compile(hostile)


def test_not_a_string_is_rejected():
    with pytest.raises(ExpressionError):
        expression_compile(42)


def test_the_error_message_names_every_method_the_language_has():
    from monitoring.handling.expressions import (
        _METHODS_NO_ARGUMENT,
        _METHODS_ONE_ARGUMENT,
        ALLOWED_SUMMARY,
    )

    for method in [*_METHODS_NO_ARGUMENT, *_METHODS_ONE_ARGUMENT]:
        assert method in ALLOWED_SUMMARY
