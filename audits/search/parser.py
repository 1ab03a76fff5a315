"""The syntax tree and the recursive-descent parser that builds it from tokens.

The tree knows nothing of fields: ``audits.search.compiler`` gives it meaning against a
schema.  The grammar, and how it differs from scoped_search's, are in ``_Parser`` and in the
package docstring's list of deviations.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

from audits.search.errors import QueryError
from audits.search.schema import Operator
from audits.search.tokens import Token, TokenKind, tokenize

__all__ = [
    "EMPTY",
    "MAX_DEPTH",
    "Comparison",
    "Logical",
    "Node",
    "Not",
    "NullCheck",
    "Term",
    "parse_ast",
]

# Deep enough for any query a person writes; shallow enough that neither this parser nor
# Django's recursive WHERE compiler can reach Python's recursion limit.
MAX_DEPTH = 64


@dataclass(frozen=True, slots=True)
class Term:
    """A value without a field: free text over the default fields."""

    value: str


@dataclass(frozen=True, slots=True)
class Comparison:
    """``field op value``; ``field`` is None for a prefix comparison on the default fields.
    ``values`` has several items only for ``^``/``!^``."""

    field: str | None
    operator: Operator
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class NullCheck:
    """``null? field`` (``is_null``) or ``set? field`` / ``has field``."""

    field: str
    is_null: bool


@dataclass(frozen=True, slots=True)
class Not:
    operand: Node


@dataclass(frozen=True, slots=True)
class Logical:
    """AND/OR of two or more operands; ``Logical("and", ())`` is the empty query."""

    connector: Literal["and", "or"]
    operands: tuple[Node, ...]


Node = Term | Comparison | NullCheck | Not | Logical
EMPTY = Logical("and", ())
_STOPS_OPERAND = frozenset({TokenKind.RPAREN, TokenKind.COMMA, TokenKind.AND, TokenKind.OR})


def parse_ast(query: str | None) -> Node:
    """Parse ``query`` into a syntax tree; the empty query gives ``EMPTY``."""
    node = _Parser(tokenize(query or "")).parse()
    if _depth(node) > MAX_DEPTH:
        raise QueryError(f"The query is nested more than {MAX_DEPTH} levels deep")
    return node


def _combine(connector: Literal["and", "or"], operands: Iterable[Node]) -> Node:
    """Build a Logical node, flattening same-connector children and dropping empty groups,
    as scoped_search's AST simplification does."""
    flat: list[Node] = []
    for operand in operands:
        if isinstance(operand, Logical) and (
            operand.connector == connector or not operand.operands
        ):
            flat.extend(operand.operands)
        else:
            flat.append(operand)
    if not flat:
        return EMPTY
    return flat[0] if len(flat) == 1 else Logical(connector, tuple(flat))


def _depth(node: Node) -> int:
    # Iterative, so measuring a pathological tree cannot itself overflow the stack.
    deepest, stack = 0, [(node, 1)]
    while stack:
        current, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(current, Not):
            stack.append((current.operand, depth + 1))
        elif isinstance(current, Logical):
            stack.extend((operand, depth + 1) for operand in current.operands)
    return deepest


class _Parser:
    """LL(2) recursive descent over the token list.

    Grammar (``*`` repeats, ``?`` optional)::

        query      := sequence EOF
        sequence   := ( ","* expression )*
        expression := unary ( ("and" | "or") unary )*       -- folded to the right
        unary      := "not" unary | primary
        primary    := "(" sequence ")" | ("set?" | "has" | "null?") value
                    | operator rhs | value ( operator rhs )?
        rhs        := value | "(" value ( ","? value )* ")"  -- lists only after ^ and !^
                    | value ( "," value )*                   -- likewise
    """

    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.position = 0
        self.nesting = 0

    def peek(self, offset: int = 0) -> Token | None:
        index = self.position + offset
        return self.tokens[index] if index < len(self.tokens) else None

    def advance(self) -> Token:
        token = self.tokens[self.position]
        self.position += 1
        return token

    @contextlib.contextmanager
    def nested(self, token: Token) -> Iterator[None]:
        self.nesting += 1
        if self.nesting > MAX_DEPTH:
            raise QueryError(
                f"The query is nested more than {MAX_DEPTH} levels deep", position=token.start
            )
        yield
        self.nesting -= 1

    def parse(self) -> Node:
        node = self.sequence()
        stray = self.peek()
        if stray is not None:
            raise QueryError(
                f"Unbalanced parenthesis: unexpected ')' at position {stray.start}",
                position=stray.start,
            )
        return node

    def sequence(self) -> Node:
        expressions: list[Node] = []
        while (token := self.peek()) is not None and token.kind is not TokenKind.RPAREN:
            if token.kind is TokenKind.COMMA:
                self.advance()
                continue
            expressions.append(self.expression())
        return _combine("and", expressions)

    def expression(self) -> Node:
        operands = [self.unary()]
        connectors: list[Literal["and", "or"]] = []
        while (token := self.peek()) is not None and token.kind in (TokenKind.AND, TokenKind.OR):
            self.advance()
            self.require_operand(token, "is missing its right-hand operand")
            connectors.append("and" if token.kind is TokenKind.AND else "or")
            operands.append(self.unary())
        # Fold from the right: scoped_search nests "a and b or c" as "a and (b or c)".
        node = operands[-1]
        for connector, left in zip(reversed(connectors), reversed(operands[:-1]), strict=True):
            node = _combine(connector, (left, node))
        return node

    def require_operand(self, token: Token, problem: str) -> None:
        following = self.peek()
        if following is None or following.kind in _STOPS_OPERAND:
            raise QueryError(
                f"'{token.text}' at position {token.start} {problem}", position=token.start
            )

    def unary(self) -> Node:
        token = self.peek()
        if token is None or token.kind is not TokenKind.NOT:
            return self.primary()
        self.advance()
        self.require_operand(token, "is missing an operand")
        with self.nested(token):
            operand = self.unary()
        if operand == EMPTY:
            raise QueryError(
                f"'{token.text}' at position {token.start} has nothing to negate",
                position=token.start,
            )
        return Not(operand)

    def primary(self) -> Node:
        if self.peek() is None:  # unreachable through the grammar; kept as a guard
            raise QueryError("The query ends where a search term was expected")
        token = self.advance()
        match token.kind:
            case TokenKind.LPAREN:
                with self.nested(token):
                    inner = self.sequence()
                if self.peek() is None:
                    raise QueryError(
                        f"Unbalanced parenthesis: '(' at position {token.start} is never closed",
                        position=token.start,
                    )
                self.advance()
                return inner
            case TokenKind.NULL | TokenKind.NOT_NULL:
                return NullCheck(self.value(token), is_null=token.kind is TokenKind.NULL)
            case TokenKind.COMPARE:
                assert token.operator is not None
                return Comparison(None, token.operator, self.rhs(token))
            case TokenKind.WORD | TokenKind.STRING:
                following = self.peek()
                if following is not None and following.kind is TokenKind.COMPARE:
                    self.advance()
                    assert following.operator is not None
                    return Comparison(token.value, following.operator, self.rhs(following))
                return Term(token.value)
            case _:
                raise QueryError(
                    f"'{token.text}' at position {token.start} has no left-hand operand",
                    position=token.start,
                )

    def rhs(self, operator_token: Token) -> tuple[str, ...]:
        if operator_token.operator not in (Operator.IN, Operator.NOT_IN):
            return (self.value(operator_token),)
        opening = self.peek()
        if opening is not None and opening.kind is TokenKind.LPAREN:
            self.advance()
            return self.parenthesized_list(operator_token, opening)
        values = [self.value(operator_token)]
        # A comma continues the list unless it starts a new comparison ("a ^ x, b = y").
        while (
            (comma := self.peek()) is not None
            and comma.kind is TokenKind.COMMA
            and self.starts_value(1)
            and not self.starts_comparison_after_value(1)
        ):
            self.advance()
            values.append(self.value(comma))
        return tuple(values)

    def parenthesized_list(self, operator_token: Token, opening: Token) -> tuple[str, ...]:
        values: list[str] = []
        while True:
            token = self.peek()
            if token is None:
                raise QueryError(
                    f"Unbalanced parenthesis: '(' at position {opening.start} is never closed",
                    position=opening.start,
                )
            if token.kind is TokenKind.RPAREN:
                self.advance()
                break
            if token.kind is TokenKind.COMMA:
                self.advance()
            elif self.starts_value(0):
                values.append(self.value(operator_token))
            else:
                raise QueryError(
                    f"Value expected in the list after '{operator_token.text}' but found '{token.text}'",
                    position=token.start,
                )
        if not values:
            raise QueryError(
                f"Empty list of values after '{operator_token.text}'", position=opening.start
            )
        return tuple(values)

    def starts_value(self, offset: int) -> bool:
        token = self.peek(offset)
        return token is not None and (token.is_value or self.is_negative_literal(offset))

    def starts_comparison_after_value(self, offset: int) -> bool:
        width = 2 if self.is_negative_literal(offset) else 1
        following = self.peek(offset + width)
        return following is not None and following.kind is TokenKind.COMPARE

    def is_negative_literal(self, offset: int) -> bool:
        # "id > -5": a "-" glued to the following word is a sign, not NOT.
        minus, word = self.peek(offset), self.peek(offset + 1)
        return (
            minus is not None
            and word is not None
            and minus.text == "-"
            and word.kind is TokenKind.WORD
            and word.start == minus.end
        )

    def value(self, after: Token) -> str:
        token = self.peek()
        if token is None:
            raise QueryError(
                f"'{after.text}' at position {after.start} is missing a value", position=after.start
            )
        if token.is_value:
            return self.advance().value
        if self.is_negative_literal(0):
            self.advance()
            return "-" + self.advance().value
        raise QueryError(
            f"Value expected after '{after.text}' but found '{token.text}'", position=token.start
        )
