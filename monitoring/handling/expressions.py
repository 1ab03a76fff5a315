"""
The `eval:` language of native filters. Sensu 1.x ran the text after `eval:` as Ruby in a
sandbox (utilities.rb `eval_attribute_value`), with the attribute's value bound to `value`.
Running user text is not an option here, so this is a small language of its own covering what
Sensu users wrote: `value`, numbers, quoted strings, true/false/nil, comparisons
(== != < <= > >=), and/or/not (also && || !), parentheses, arrays, and the methods to_i,
to_f, to_s, include?, nil?, empty?, length/size, downcase/upcase, start_with?/end_with?.
`:::path|default:::` tokens are looked up in the event, as utilities.rb `substitute_tokens`.

A hand-written tokenizer and recursive-descent parser build closures; nothing here reaches
Python's eval. Text is bounded in length and nesting, so hostile input costs a fixed amount.
Ruby's semantics hold where users relied on them: only nil and false are false; comparing a
string with a number makes the whole expression false (Ruby raised, and Sensu logged the
error and did not match), never an exception.
"""

import functools
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

EVAL_PREFIX = "eval:"
MAX_EXPRESSION_CHARS = 1024
MAX_NESTING = 32
ALLOWED_SUMMARY = (
    "an eval: expression may use value, numbers, quoted strings, true/false/nil, "
    "comparisons (== != < <= > >=), and/or/not (&& || !), parentheses, [arrays], "
    ":::event.attribute::: tokens and the methods to_i, to_f, to_s, include?, nil?, empty?, "
    "length, size, downcase, upcase, start_with? and end_with?"
)


class ExpressionError(ValueError):
    """The text is not an expression of the language; the message says what is not allowed."""


class _RubyError(Exception):
    """What Ruby would have raised at run time (comparison of String with Integer...)."""


Evaluator = Callable[[Any, dict], Any]


@dataclass(frozen=True)
class _Token:
    kind: str  # number, string, name, op, token
    text: str
    value: Any
    position: int


_OPERATORS = ("==", "!=", "<=", ">=", "&&", "||", "<", ">", "!", "(", ")", "[", "]", ",", ".")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*[?]?")
_NUMBER = re.compile(r"\d+(\.\d+)?([eE][+-]?\d+)?")
_ATTRIBUTE_TOKEN = re.compile(r":::([^:].*?):::")


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char.isspace():
            i += 1
            continue
        if text.startswith(":::", i):
            match = _ATTRIBUTE_TOKEN.match(text, i)
            if match is None:
                raise ExpressionError(f"Unterminated :::token::: at character {i + 1}.")
            tokens.append(_Token("token", match.group(0), match.group(1), i))
            i = match.end()
            continue
        if char in "'\"":
            value, end = _string_read(text, i)
            tokens.append(_Token("string", text[i:end], value, i))
            i = end
            continue
        # A minus directly before a digit where no operand precedes it is a negative number
        # (`value > -1`); there is no subtraction, so nothing else could use it.
        signed = (
            char == "-"
            and i + 1 < len(text)
            and text[i + 1].isdigit()
            and (
                not tokens
                or (tokens[-1].kind == "op" and tokens[-1].text not in ")]")
                or (tokens[-1].kind == "name" and tokens[-1].text in ("and", "or", "not"))
            )
        )
        number = _NUMBER.match(text, i + 1 if signed else i)
        if number:
            literal = ("-" if signed else "") + number.group(0)
            value = float(literal) if ("." in literal or "e" in literal.lower()) else int(literal)
            tokens.append(_Token("number", literal, value, i))
            i = number.end()
            continue
        name = _NAME.match(text, i)
        if name:
            tokens.append(_Token("name", name.group(0), name.group(0), i))
            i = name.end()
            continue
        for operator in _OPERATORS:
            if text.startswith(operator, i):
                tokens.append(_Token("op", operator, operator, i))
                i += len(operator)
                break
        else:
            raise ExpressionError(
                f"{char!r} (character {i + 1}) is not allowed: {ALLOWED_SUMMARY}."
            )
    return tokens


def _string_read(text: str, start: int) -> tuple[str, int]:
    """A quoted string: backslash escapes only the quote and the backslash, as Ruby's '...'."""
    quote = text[start]
    out = []
    i = start + 1
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text) and text[i + 1] in (quote, "\\"):
            out.append(text[i + 1])
            i += 2
            continue
        if char == quote:
            return "".join(out), i + 1
        if quote == '"' and text.startswith("#{", i):
            raise ExpressionError("String interpolation #{...} is not allowed.")
        out.append(char)
        i += 1
    raise ExpressionError(f"Unterminated string starting at character {start + 1}.")


# --- Ruby semantics -----------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def ruby_truthy(value: Any) -> bool:
    """Ruby's truth: everything but nil and false is true (0 and "" too)."""
    return value is not None and value is not False


def ruby_equal(left: Any, right: Any) -> bool:
    """Ruby's ==: true is not 1, "1" is not 1, 1 == 1.0; arrays and hashes element-wise."""
    if isinstance(left, bool) or isinstance(right, bool):
        return left is right
    if _is_number(left) and _is_number(right):
        return left == right
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(ruby_equal, left, right))
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(ruby_equal(left[k], right[k]) for k in left)
    if type(left) is not type(right):
        return False
    return left == right


def ruby_to_s(value: Any) -> str:
    """Ruby's to_s of a JSON value (nil is "", floats keep ".0", arrays and hashes inspect)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return _ruby_inspect(value)


def _ruby_inspect(value: Any) -> str:
    if value is None:
        return "nil"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, float):
        if math.isinf(value) or math.isnan(value):
            return {math.inf: "Infinity", -math.inf: "-Infinity"}.get(value, "NaN")
        if value == int(value) and abs(value) < 1e16:
            return f"{int(value)}.0"
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_ruby_inspect(v) for v in value) + "]"
    if isinstance(value, dict):
        # Sensu's hashes have symbol keys: {:name=>"x"}.
        return "{" + ", ".join(f":{k}=>{_ruby_inspect(v)}" for k, v in value.items()) + "}"
    return str(value)


def _ruby_compare(operator: str, left: Any, right: Any) -> bool:
    if not (
        (_is_number(left) and _is_number(right))
        or (isinstance(left, str) and isinstance(right, str))
    ):
        raise _RubyError(f"comparison of {_ruby_class(left)} with {_ruby_class(right)} failed")
    match operator:
        case "<":
            return left < right
        case "<=":
            return left <= right
        case ">":
            return left > right
        case _:
            return left >= right


def _ruby_class(value: Any) -> str:
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return "Integer"
    if isinstance(value, float):
        return "Float"
    if isinstance(value, str):
        return "String"
    return "Array" if isinstance(value, list) else "Hash"


_LEADING_INT = re.compile(r"\s*([+-]?\d+)")
_LEADING_FLOAT = re.compile(r"\s*([+-]?\d+(\.\d+)?([eE][+-]?\d+)?)")


def _to_i(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, bool):
        raise _RubyError(f"undefined method `to_i' for {value}")
    if isinstance(value, float):
        if math.isinf(value) or math.isnan(value):
            raise _RubyError("FloatDomainError")
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        match = _LEADING_INT.match(value)
        return int(match.group(1)) if match else 0
    raise _RubyError(f"undefined method `to_i' for {_ruby_class(value)}")


def _to_f(value: Any) -> float:
    if value is None:
        return 0.0
    if isinstance(value, bool):
        raise _RubyError(f"undefined method `to_f' for {value}")
    if _is_number(value):
        return float(value)
    if isinstance(value, str):
        match = _LEADING_FLOAT.match(value)
        return float(match.group(1)) if match else 0.0
    raise _RubyError(f"undefined method `to_f' for {_ruby_class(value)}")


def _include(receiver: Any, item: Any) -> bool:
    if isinstance(receiver, list):
        return any(ruby_equal(element, item) for element in receiver)
    if isinstance(receiver, str):
        if not isinstance(item, str):
            raise _RubyError(f"no implicit conversion of {_ruby_class(item)} into String")
        return item in receiver
    if isinstance(receiver, dict):
        return item in receiver
    raise _RubyError(f"undefined method `include?' for {_ruby_class(receiver)}")


def _length(receiver: Any) -> int:
    if isinstance(receiver, str | list | dict):
        return len(receiver)
    raise _RubyError(f"undefined method `length' for {_ruby_class(receiver)}")


def _string_method(name: str, fn: Callable[[str], Any]) -> Callable[[Any], Any]:
    def method(receiver: Any) -> Any:
        if not isinstance(receiver, str):
            raise _RubyError(f"undefined method `{name}' for {_ruby_class(receiver)}")
        return fn(receiver)

    return method


def _empty(receiver: Any) -> bool:
    if isinstance(receiver, str | list | dict):
        return len(receiver) == 0
    raise _RubyError(f"undefined method `empty?' for {_ruby_class(receiver)}")


_METHODS_NO_ARGUMENT: dict[str, Callable[[Any], Any]] = {
    "to_i": _to_i,
    "to_f": _to_f,
    "to_s": ruby_to_s,
    "nil?": lambda receiver: receiver is None,
    "empty?": _empty,
    "length": _length,
    "size": _length,
    "downcase": _string_method("downcase", str.lower),
    "upcase": _string_method("upcase", str.upper),
}


def _prefix_method(name: str, test: Callable[[str, str], bool]) -> Callable[[Any, Any], bool]:
    def method(receiver: Any, argument: Any) -> bool:
        if not isinstance(receiver, str) or not isinstance(argument, str):
            raise _RubyError(f"undefined method `{name}' for {_ruby_class(receiver)}")
        return test(receiver, argument)

    return method


_METHODS_ONE_ARGUMENT: dict[str, Callable[[Any, Any], Any]] = {
    "include?": _include,
    "start_with?": _prefix_method("start_with?", str.startswith),
    "end_with?": _prefix_method("end_with?", str.endswith),
}


# --- Tokens: :::path|default::: ----------------------------------------------------------


class _UnmatchedToken(Exception):
    pass


def attribute_token_value(event: dict, token: str) -> Any:
    """
    utilities.rb `substitute_tokens` / `find_attribute_value` for one token: walk the dotted
    path while the values are hashes, stop at the first that is not; the default (after `|`)
    when nothing is found. Raises _UnmatchedToken when there is neither.
    """
    path, _, default = token.partition("|")
    has_default = "|" in token
    tree: Any = event
    for key in path.split("."):
        attribute = tree.get(key) if isinstance(tree, dict) else None
        if isinstance(attribute, dict):
            tree = attribute
            continue
        if attribute is None:
            if has_default:
                return default
            raise _UnmatchedToken(path)
        return attribute
    return tree


def _token_template(text: str) -> Callable[[dict], str]:
    """A string literal holding :::tokens:::, filled in from the event as Ruby's gsub did."""
    parts = _ATTRIBUTE_TOKEN.split(text)

    def render(event: dict) -> str:
        out = []
        for index, part in enumerate(parts):
            out.append(ruby_to_s(attribute_token_value(event, part)) if index % 2 else part)
        return "".join(out)

    return render


def _token_literal(found: Any) -> Any:
    """
    A token outside quotes: Ruby pasted its text into the code, so a default or attribute
    reading "10" or "true" was the number or the boolean. Other text stays a string here
    (Ruby would have run it as code).
    """
    if not isinstance(found, str):
        return found
    text = found.strip()
    if text in ("true", "false", "nil"):
        return {"true": True, "false": False, "nil": None}[text]
    if re.fullmatch(r"[+-]?\d+", text):
        return int(text)
    if re.fullmatch(r"[+-]?\d+\.\d+([eE][+-]?\d+)?", text):
        return float(text)
    return found


# --- The parser ---------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.index = 0
        self.depth = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self) -> _Token:
        token = self.peek()
        if token is None:
            raise ExpressionError("The expression ends too early.")
        self.index += 1
        return token

    def at(self, *texts: str) -> bool:
        token = self.peek()
        return token is not None and token.kind in ("op", "name") and token.text in texts

    def expect(self, text: str) -> None:
        token = self.peek()
        if token is None or token.text != text or token.kind not in ("op", "name"):
            found = "the end" if token is None else repr(token.text)
            raise ExpressionError(f"Expected {text!r} but found {found}.")
        self.index += 1

    def nested(self) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise ExpressionError(f"The expression nests deeper than {MAX_NESTING} levels.")

    def parse(self) -> Evaluator:
        if not self.tokens:
            raise ExpressionError("The expression is empty.")
        evaluator = self.expression()
        token = self.peek()
        if token is not None:
            raise ExpressionError(
                f"{token.text!r} (character {token.position + 1}) is not allowed here: "
                f"{ALLOWED_SUMMARY}."
            )
        return evaluator

    # Ruby's precedence, highest first: `!`, method calls, `< <= > >=`, `== !=`, `&&`, `||`,
    # `not`, then `and`/`or` (equal, left to right: `a or b and c` is `(a or b) and c`).

    def expression(self) -> Evaluator:
        left = self.word_negation()
        while self.at("and", "or"):
            combine = _and if self.take().text == "and" else _or
            left = combine(left, self.word_negation())
        return left

    def word_negation(self) -> Evaluator:
        if self.at("not"):
            self.take()
            self.nested()
            operand = self.word_negation()
            self.depth -= 1
            return _not(operand)
        return self.disjunction()

    def disjunction(self) -> Evaluator:
        left = self.conjunction()
        while self.at("||"):
            self.take()
            left = _or(left, self.conjunction())
        return left

    def conjunction(self) -> Evaluator:
        left = self.equality()
        while self.at("&&"):
            self.take()
            left = _and(left, self.equality())
        return left

    def equality(self) -> Evaluator:
        left = self.relation()
        if self.at("==", "!="):
            operator = self.take().text
            right = self.relation()
            if self.at("==", "!="):
                raise ExpressionError("Chained comparisons are not allowed; use and/or.")
            return _comparison(operator, left, right)
        return left

    def relation(self) -> Evaluator:
        left = self.unary()
        if self.at("<", "<=", ">", ">="):
            operator = self.take().text
            right = self.unary()
            if self.at("<", "<=", ">", ">="):
                raise ExpressionError("Chained comparisons are not allowed; use and/or.")
            return _comparison(operator, left, right)
        return left

    def unary(self) -> Evaluator:
        if self.at("!"):
            self.take()
            self.nested()
            operand = self.unary()
            self.depth -= 1
            return _not(operand)
        return self.postfix()

    def postfix(self) -> Evaluator:
        evaluator = self.primary()
        while self.at("."):
            self.take()
            token = self.take()
            if token.kind != "name":
                raise ExpressionError(f"Expected a method name after '.', found {token.text!r}.")
            if token.text in _METHODS_NO_ARGUMENT:
                evaluator = _call0(_METHODS_NO_ARGUMENT[token.text], evaluator)
            elif token.text in _METHODS_ONE_ARGUMENT:
                parenthesised = self.at("(")
                if parenthesised:
                    self.take()
                    self.nested()
                    argument = self.expression()
                    self.depth -= 1
                    self.expect(")")
                else:
                    argument = self.postfix()
                evaluator = _call1(_METHODS_ONE_ARGUMENT[token.text], evaluator, argument)
            else:
                raise ExpressionError(
                    f"The method {token.text!r} is not allowed: {ALLOWED_SUMMARY}."
                )
        return evaluator

    def primary(self) -> Evaluator:
        token = self.take()
        if token.kind == "number":
            number = token.value
            return lambda value, event: number
        if token.kind == "string":
            if _ATTRIBUTE_TOKEN.search(token.value):
                render = _token_template(token.value)
                return lambda value, event: render(event)
            text = token.value
            return lambda value, event: text
        if token.kind == "token":
            path = token.value
            return lambda value, event: _token_literal(attribute_token_value(event, path))
        if token.kind == "op" and token.text == "(":
            self.nested()
            inner = self.expression()
            self.depth -= 1
            self.expect(")")
            return inner
        if token.kind == "op" and token.text == "[":
            self.nested()
            items: list[Evaluator] = []
            if not self.at("]"):
                items.append(self.expression())
                while self.at(","):
                    self.take()
                    items.append(self.expression())
            self.depth -= 1
            self.expect("]")
            return lambda value, event: [item(value, event) for item in items]
        if token.kind == "name":
            match token.text:
                case "value":
                    return lambda value, event: value
                case "true":
                    return lambda value, event: True
                case "false":
                    return lambda value, event: False
                case "nil":
                    return lambda value, event: None
        raise ExpressionError(
            f"{token.text!r} (character {token.position + 1}) is not allowed: {ALLOWED_SUMMARY}."
        )


def _not(operand: Evaluator) -> Evaluator:
    return lambda value, event: not ruby_truthy(operand(value, event))


def _or(left: Evaluator, right: Evaluator) -> Evaluator:
    def evaluate(value: Any, event: dict) -> Any:
        result = left(value, event)
        return result if ruby_truthy(result) else right(value, event)

    return evaluate


def _and(left: Evaluator, right: Evaluator) -> Evaluator:
    def evaluate(value: Any, event: dict) -> Any:
        result = left(value, event)
        return right(value, event) if ruby_truthy(result) else result

    return evaluate


def _comparison(operator: str, left: Evaluator, right: Evaluator) -> Evaluator:
    if operator == "==":
        return lambda value, event: ruby_equal(left(value, event), right(value, event))
    if operator == "!=":
        return lambda value, event: not ruby_equal(left(value, event), right(value, event))
    return lambda value, event: _ruby_compare(operator, left(value, event), right(value, event))


def _call0(method: Callable[[Any], Any], receiver: Evaluator) -> Evaluator:
    return lambda value, event: method(receiver(value, event))


def _call1(method: Callable[[Any, Any], Any], receiver: Evaluator, argument: Evaluator):
    return lambda value, event: method(receiver(value, event), argument(value, event))


def expression_compile(text: str) -> Callable[..., bool]:
    """
    Compile an `eval:` expression (the prefix is optional) into `fn(value, event=None) ->
    bool`; raises ExpressionError naming what is not allowed. The function never raises: a
    run-time error Ruby would have raised (comparing a string with a number, an unmatched
    :::token:::) makes it return False, as Sensu's `eval_attribute_value` did.
    """
    if not isinstance(text, str):
        raise ExpressionError("An eval: expression must be a string.")
    if text.startswith(EVAL_PREFIX):
        text = text[len(EVAL_PREFIX) :]
    if len(text) > MAX_EXPRESSION_CHARS:
        raise ExpressionError(
            f"The expression is {len(text)} characters long; at most {MAX_EXPRESSION_CHARS}."
        )
    return _compiled(text)


@functools.lru_cache(maxsize=512)
def _compiled(text: str) -> Callable[..., bool]:
    evaluator = _Parser(text).parse()

    def matches(value: Any, event: dict | None = None) -> bool:
        try:
            return ruby_truthy(evaluator(value, event or {}))
        except (_RubyError, _UnmatchedToken, RecursionError):
            return False

    return matches
