"""Foreman's scoped_search query language, compiled to a Django ``Q``.

One parser serves the ``search=`` parameter of the Foreman-compatible API and the admin search
box, so the same query means the same rows everywhere.  The pipeline has three stages, each
usable on its own:

1. ``tokenize(query)`` turns the text into ``Token``s (words, quoted strings, operators,
   keywords, parentheses, commas), each with its source position.
2. ``parse_ast(query)`` runs a recursive-descent parser over the tokens and returns a small AST
   (``Term``, ``Comparison``, ``NullCheck``, ``Not``, ``Logical``).  It knows nothing of fields.
3. ``parse(query, schema)`` compiles the AST against a ``SearchSchema`` into a ``Q``.  It never
   produces SQL text; every value reaches the database as a query parameter.

``complete(query, schema)`` reuses stages 1 and 3's field knowledge to suggest what can come
next, in the shape Foreman's ``auto_complete_search`` endpoint returns.

Every problem with a user's query raises ``QueryError`` (a ``ValueError``) whose message names
the problem.  Mistakes in a schema definition are programming errors and raise plain
``ValueError`` when the schema is built.

Semantics kept from scoped_search
---------------------------------
- ``and``/``or`` have no precedence between them and nest to the right: ``a and b or c`` is
  ``a and (b or c)``.  Juxtaposition (and a comma) is an AND that binds looser than either, so
  ``a b or c`` is ``a and (b or c)`` and ``a or b c`` is ``(a or b) and c``.
- ``=`` on text is exact and case-sensitive; ``~`` is a case-insensitive substring match.
- ``!=``, ``!~`` and ``!^`` follow SQL: a row whose field is NULL matches neither ``f = x`` nor
  ``f != x``.  ``not`` is ``NOT COALESCE(..., false)``: ``not f = x`` does match NULL rows.
- A term without a field is ORed over the schema's default fields: text fields with ``~``,
  integer fields when the term is an integer, datetime fields when it parses as a date.  Set
  and boolean fields never take part.  A bare term equal to a boolean field's name means
  ``<field> = true``.  A prefix comparison (``> 5``, ``= 2024-05-01``) applies its operator to
  the default fields that accept it; ``^ (a, b)`` becomes ``= a or = b`` and ``!^ (a, b)``
  becomes ``!= a and != b``.  When no default field can take a term, it matches no rows.
- Dates: ``=`` covers the value's whole span (a day, a month, a minute...), ``!=`` is its
  complement, ``>`` and ``<=`` move to the end of the span, ``<`` and ``>=`` use its start.
  ``before``/``after``/``at`` are ``<``/``>``/``=``.  Relative phrases must be quoted, as in
  scoped_search: ``time > "2 days ago"``.

Deviations from scoped_search
-----------------------------
All deliberate; most fix a behaviour that silently returns the wrong rows or reads a query
differently from how it was written.

1. An unparseable date for a datetime field is an error; scoped_search drops the condition and
   returns every record.
2. ``!`` before ``=``, ``~`` or ``^`` ends a word, and ``^`` always does, so ``name!=x``,
   ``name!~x`` and ``name^(a,b)`` parse as written.  scoped_search reads ``name!`` as a word.
3. An operator with nothing after it (``name =``, ``action = x and``, ``not``) is an error;
   scoped_search drops trailing operators and searches ``name`` as free text.
4. An unterminated quote is an error; scoped_search runs the string to the end of the input.
5. Unbalanced parentheses are an error; scoped_search ignores an unmatched ``)`` and everything
   after it.
6. Without parentheses, ``^``/``!^`` take one value, or several joined by commas
   (``action ^ create,update``); scoped_search swallows every following word of the query.
7. ``^``/``!^`` work on set fields (each value is translated); scoped_search looks the whole
   list up as a single key and fails.
8. Operators are checked against the field's kind (``~`` on an integer, ``>`` on text, ``^`` on
   a datetime are errors).  scoped_search checks only ``~``/``!~`` and sends the rest to SQL.
9. Integer values are validated (``id = abc`` is an error, not a database exception).
10. ``_`` is a literal character in ``~`` patterns; in scoped_search's LIKE it matches any
    single character.  ``*`` and ``%`` remain wildcards.
11. ``>`` and ``<=`` move to the end of the value's span for every span, so ``<``, ``=`` and
    ``>`` always split time into three disjoint parts.  scoped_search 4.x shifts only spans of
    a day or more, so ``time > "2024-05-01 10:30"`` also matches 10:30:30 there.
12. A negative number directly after an operator (``id > -5``) is a value; scoped_search reads
    the ``-`` as NOT and fails.
13. ``set? f`` on a text field also excludes the empty string.
14. Weekday names (``Monday``) mean the most recent such day, today included; scoped_search
    offers them in auto-completion but leaves their meaning to ``Time.zone.parse``.
15. Dates are read from a fixed list of spellings (see ``parse_temporal``), not by Ruby's
    ``Time.zone.parse``: a bare year (``2024``) or ``01/02/2009`` is not a date, so it is an
    error for a datetime field (see 1) and plain text in free-text search.
16. Limits that keep every failure a ``QueryError``: no NUL characters or unpaired surrogates
    (the database driver would raise), at most ``MAX_DEPTH`` levels of nesting (the Python
    stack), at most ``MAX_WILDCARDS`` wildcards per ``~`` pattern (regex backtracking), and
    integers within the signed 64-bit range.
"""

from __future__ import annotations

import calendar
import contextlib
import dataclasses
import html
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from enum import StrEnum
from functools import cache
from types import MappingProxyType
from typing import Literal

from django.db.models import Q

__all__ = [
    "EMPTY",
    "MAX_DEPTH",
    "MAX_WILDCARDS",
    "OPERATORS_BY_KIND",
    "Comparison",
    "FieldKind",
    "Logical",
    "Node",
    "Not",
    "NullCheck",
    "Operator",
    "QueryError",
    "SearchField",
    "SearchSchema",
    "Term",
    "TimeSpan",
    "Token",
    "TokenKind",
    "complete",
    "parse",
    "parse_ast",
    "parse_temporal",
    "tokenize",
]

# Deep enough for any query a person writes; shallow enough that neither this parser nor
# Django's recursive WHERE compiler can reach Python's recursion limit.
MAX_DEPTH = 64
# Each wildcard run becomes ``.*`` in a regular expression; backtracking engines (SQLite's
# Python ``re``, MySQL's ICU) slow down polynomially in their number.
MAX_WILDCARDS = 8
# Values beyond a signed 64-bit integer cannot match any integer column and make some database
# drivers raise instead of returning no rows.
_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1


class QueryError(ValueError):
    """A search query that cannot be understood; the message says why.

    ``position`` is the offset in the query where the problem was found, when known, so a UI
    can point at it.
    """

    def __init__(self, message: str, *, position: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.position = position


# --- Operators and field kinds ------------------------------------------------------------


class Operator(StrEnum):
    """Comparison operators, named by their canonical symbol."""

    EQ = "="
    NE = "!="
    LIKE = "~"
    UNLIKE = "!~"
    GT = ">"
    LT = "<"
    GTE = ">="
    LTE = "<="
    IN = "^"
    NOT_IN = "!^"


class FieldKind(StrEnum):
    """What a search field holds; decides its operators and how values are read."""

    STRING = "string"
    TEXT = "text"
    INTEGER = "integer"
    DATETIME = "datetime"
    SET = "set"
    BOOLEAN = "boolean"


# Ordered as an auto-completer should offer them (scoped_search's order, then the additions).
_TEXT_OPERATORS = (
    Operator.EQ, Operator.NE, Operator.LIKE, Operator.UNLIKE, Operator.IN, Operator.NOT_IN,
)  # fmt: skip
OPERATORS_BY_KIND: Mapping[FieldKind, tuple[Operator, ...]] = MappingProxyType(
    {
        FieldKind.STRING: _TEXT_OPERATORS,
        FieldKind.TEXT: _TEXT_OPERATORS,
        FieldKind.INTEGER: (
            Operator.EQ,
            Operator.GT,
            Operator.LT,
            Operator.LTE,
            Operator.GTE,
            Operator.NE,
            Operator.IN,
            Operator.NOT_IN,
        ),
        FieldKind.DATETIME: (
            Operator.EQ,
            Operator.GT,
            Operator.LT,
            Operator.GTE,
            Operator.LTE,
            Operator.NE,
        ),
        FieldKind.SET: (Operator.EQ, Operator.NE, Operator.IN, Operator.NOT_IN),
        FieldKind.BOOLEAN: (Operator.EQ, Operator.NE),
    }
)

_TEXTUAL = frozenset({FieldKind.STRING, FieldKind.TEXT})
_FREE_TEXT_KINDS = frozenset(
    {FieldKind.STRING, FieldKind.TEXT, FieldKind.INTEGER, FieldKind.DATETIME}
)
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)
_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*", re.ASCII)
_ORM_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)


# --- Field definitions --------------------------------------------------------------------


@dataclass(frozen=True)
class SearchField:
    """One name users can search on, and the ORM path it maps to.

    ``prefix=True`` declares a JSON object searched by key: users type ``<name>.<key>`` and the
    lookup becomes ``<lookup>__<key>`` (a JSONField key transform).  Keys must be identifiers.
    ``values`` (required for SET) maps what users type to what is stored.  ``default`` puts the
    field in free-text search.  ``operators`` narrows the kind's operators.  ``validator``
    (scoped_search's option of that name) vets values compared whole, i.e. with any operator
    but ``~``/``!~``: a value it rejects is the user's error, or skips the field in free-text
    search.  Use it where the database would raise on a bad value (an inet column, a UUID).
    """

    name: str
    lookup: str
    kind: FieldKind
    values: Mapping[str, str | int] | None = None
    default: bool = False
    operators: tuple[Operator, ...] | None = None
    aliases: tuple[str, ...] = ()
    prefix: bool = False
    validator: Callable[[str], bool] | None = None

    def __post_init__(self) -> None:
        # Fail at import time on a bad definition rather than on the first search.
        kind = FieldKind(self.kind)
        object.__setattr__(self, "kind", kind)
        for name in (self.name, *self.aliases):
            if not _FIELD_NAME.fullmatch(name):
                raise ValueError(f"search field name {name!r} is not a dotted identifier")
        if not all(_ORM_PATH.fullmatch(part) for part in self.lookup.split("__")):
            raise ValueError(f"search field {self.name!r} has an invalid lookup {self.lookup!r}")
        if (kind is FieldKind.SET) != (self.values is not None):
            raise ValueError(
                f"search field {self.name!r}: 'values' is required for, and only for, sets"
            )
        if self.values is not None:
            if not self.values:
                raise ValueError(f"search field {self.name!r} has an empty set of values")
            object.__setattr__(self, "values", MappingProxyType(dict(self.values)))
        if self.default and (kind not in _FREE_TEXT_KINDS or self.prefix):
            raise ValueError(f"search field {self.name!r} ({kind}) cannot be a free-text default")
        if self.operators is not None:
            operators = tuple(Operator(op) for op in self.operators)
            invalid = [op for op in operators if op not in OPERATORS_BY_KIND[kind]]
            if invalid or not operators:
                raise ValueError(
                    f"search field {self.name!r}: operators {invalid} do not apply to {kind}"
                )
            object.__setattr__(self, "operators", operators)
        object.__setattr__(self, "aliases", tuple(self.aliases))

    def __hash__(self) -> int:
        # The generated hash would fail on the ``values`` mapping; these identify a field.
        return hash((self.name, self.lookup, self.kind))

    @property
    def allowed_operators(self) -> tuple[Operator, ...]:
        """The operators this field accepts, in the order an auto-completer offers them."""
        kind_operators = OPERATORS_BY_KIND[self.kind]
        if self.operators is None:
            return kind_operators
        return tuple(op for op in kind_operators if op in self.operators)


@dataclass(frozen=True)
class SearchSchema:
    """The searchable fields of one model (or of one API), looked up by name or alias."""

    fields: Sequence[SearchField]
    _by_name: Mapping[str, SearchField] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        fields = tuple(self.fields)
        by_name: dict[str, SearchField] = {}
        for search_field in fields:
            for name in (search_field.name, *search_field.aliases):
                if name in by_name:
                    raise ValueError(f"search field name {name!r} is defined twice")
                by_name[name] = search_field
        object.__setattr__(self, "fields", fields)
        object.__setattr__(self, "_by_name", MappingProxyType(by_name))

    def get(self, name: str) -> SearchField | None:
        """The field ``name`` refers to, with a prefix field's key folded into its lookup."""
        found = self._by_name.get(name)
        if found is not None:
            return found
        parent, key = self._keyed_parent(name)
        if parent is None or not _is_safe_key(key):
            return None
        return dataclasses.replace(
            parent, name=name, lookup=f"{parent.lookup}__{key}", aliases=(), prefix=False
        )

    def resolve(self, name: str) -> SearchField:
        """Like ``get``, but an unknown name is the user's error."""
        found = self.get(name)
        if found is not None:
            return found
        parent, key = self._keyed_parent(name)
        if parent is not None:
            raise QueryError(
                f"Invalid key '{key}' for field '{parent.name}': use letters, digits and single underscores"
            )
        # Foreman's own wording, which its API clients already show to people.
        raise QueryError(f"Field '{name}' not recognized for searching!")

    def _keyed_parent(self, name: str) -> tuple[SearchField | None, str]:
        base, dot, key = name.partition(".")
        parent = self._by_name.get(base)
        if not dot or parent is None or not parent.prefix:
            return None, key
        return parent, key

    @property
    def default_fields(self) -> tuple[SearchField, ...]:
        return tuple(f for f in self.fields if f.default)

    @property
    def names(self) -> tuple[str, ...]:
        """Every name a user may type, aliases included, as auto-completion offers them."""
        return tuple(self._by_name)


@cache
def _json_lookup_names() -> frozenset[str]:
    # A key equal to a lookup name would be read by Django as that lookup, not as a key.
    from django.db.models import JSONField

    return frozenset(JSONField.get_lookups())


def _is_safe_key(key: str) -> bool:
    # "__" would let a key walk into another lookup; the pattern keeps it to one JSON key.
    return bool(_IDENTIFIER.fullmatch(key)) and "__" not in key and key not in _json_lookup_names()


# --- Tokenizer ----------------------------------------------------------------------------


class TokenKind(StrEnum):
    WORD = "word"
    STRING = "string"
    COMPARE = "compare"
    AND = "and"
    OR = "or"
    NOT = "not"
    NULL = "null"
    NOT_NULL = "not_null"
    LPAREN = "("
    RPAREN = ")"
    COMMA = ","


@dataclass(frozen=True, slots=True)
class Token:
    """One lexeme: ``text`` is the source slice, ``value`` the unescaped string of a word or a
    quoted string, ``operator`` the comparison a COMPARE token stands for.  ``closed`` is False
    only for an unterminated string read with ``tokenize(..., partial=True)``."""

    kind: TokenKind
    text: str
    value: str
    start: int
    end: int
    operator: Operator | None = None
    closed: bool = True

    @property
    def is_value(self) -> bool:
        return self.kind in (TokenKind.WORD, TokenKind.STRING)


_KEYWORDS: Mapping[str, tuple[TokenKind, Operator | None]] = {
    "and": (TokenKind.AND, None),
    "or": (TokenKind.OR, None),
    "not": (TokenKind.NOT, None),
    "set?": (TokenKind.NOT_NULL, None),
    "has": (TokenKind.NOT_NULL, None),
    "null?": (TokenKind.NULL, None),
    "before": (TokenKind.COMPARE, Operator.LT),
    "after": (TokenKind.COMPARE, Operator.GT),
    "at": (TokenKind.COMPARE, Operator.EQ),
}
_SYMBOLS: Mapping[str, tuple[TokenKind, Operator | None]] = {
    "&": (TokenKind.AND, None),
    "&&": (TokenKind.AND, None),
    "|": (TokenKind.OR, None),
    "||": (TokenKind.OR, None),
    "-": (TokenKind.NOT, None),
    "!": (TokenKind.NOT, None),
    "~": (TokenKind.COMPARE, Operator.LIKE),
    "!~": (TokenKind.COMPARE, Operator.UNLIKE),
    "=": (TokenKind.COMPARE, Operator.EQ),
    "==": (TokenKind.COMPARE, Operator.EQ),
    "!=": (TokenKind.COMPARE, Operator.NE),
    "<>": (TokenKind.COMPARE, Operator.NE),
    ">": (TokenKind.COMPARE, Operator.GT),
    "<": (TokenKind.COMPARE, Operator.LT),
    ">=": (TokenKind.COMPARE, Operator.GTE),
    "<=": (TokenKind.COMPARE, Operator.LTE),
    "^": (TokenKind.COMPARE, Operator.IN),
    "!^": (TokenKind.COMPARE, Operator.NOT_IN),
}
_SYMBOL_START = frozenset("&|=<>^!~-")
_PUNCTUATION = {"(": TokenKind.LPAREN, ")": TokenKind.RPAREN, ",": TokenKind.COMMA}
_WORD_BREAKS = frozenset("=~<>&|(),^")


def tokenize(query: str, *, partial: bool = False) -> list[Token]:
    """Split ``query`` into tokens.

    ``partial=True`` is for auto-completion: an unterminated quote becomes an open STRING token
    instead of an error, because the user is still typing it.
    """
    _check_characters(query)
    tokens: list[Token] = []
    position = 0
    while position < len(query):
        char = query[position]
        if char.isspace():
            position += 1
            continue
        if char in _PUNCTUATION:
            token = Token(_PUNCTUATION[char], char, char, position, position + 1)
        elif char in _SYMBOL_START:
            token = _read_symbol(query, position)
        elif char == '"':
            token = _read_quoted(query, position, partial=partial)
        else:
            token = _read_word(query, position)
        tokens.append(token)
        position = token.end
    return tokens


def _check_characters(query: str) -> None:
    # Both would pass the parser and then fail inside the database driver as a server error.
    if "\x00" in query:
        raise QueryError("The query contains a NUL character", position=query.index("\x00"))
    try:
        query.encode("utf-8")
    except UnicodeEncodeError as error:
        raise QueryError("The query is not valid Unicode text", position=error.start) from None


def _read_symbol(query: str, start: int) -> Token:
    pair = query[start : start + 2]
    text = pair if pair in _SYMBOLS else query[start]
    kind, operator = _SYMBOLS[text]
    return Token(kind, text, text, start, start + len(text), operator)


def _read_quoted(query: str, start: int, *, partial: bool) -> Token:
    chars: list[str] = []
    position = start + 1
    while position < len(query):
        char = query[position]
        if char == '"':
            return Token(
                TokenKind.STRING, query[start : position + 1], "".join(chars), start, position + 1
            )
        if char == "\\" and position + 1 < len(query):
            position += 1
            char = query[position]
        elif char == "\\":
            break
        chars.append(char)
        position += 1
    if partial:
        return Token(
            TokenKind.STRING, query[start:], "".join(chars), start, len(query), closed=False
        )
    raise QueryError(f"Unterminated quoted string starting at position {start}", position=start)


def _ends_word(query: str, position: int) -> bool:
    char = query[position]
    if char.isspace() or char in _WORD_BREAKS:
        return True
    # "-" and a lone "!" stay inside words ("a-b", "wow!"), as in scoped_search; "!=", "!~"
    # and "!^" end one so that "name!=x" means what it says.
    return char == "!" and query[position + 1 : position + 2] in ("=", "~", "^")


def _read_word(query: str, start: int) -> Token:
    end = start + 1
    while end < len(query) and not _ends_word(query, end):
        end += 1
    text = query[start:end]
    keyword = _KEYWORDS.get(text.lower())
    if keyword is not None:
        kind, operator = keyword
        return Token(kind, text, text, start, end, operator)
    return Token(TokenKind.WORD, text, text, start, end)


# --- Syntax tree and parser ---------------------------------------------------------------


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


# --- Dates --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TimeSpan:
    """The half-open interval ``[start, end)`` a date value covers, in UTC."""

    start: datetime
    end: datetime


class _Clock:
    """Reads the time at most once per query, so every relative date in it agrees."""

    def __init__(self, now: datetime | None) -> None:
        if now is not None and now.utcoffset() is None:
            raise ValueError("now must be timezone-aware")
        self._now = now

    def __call__(self) -> datetime:
        if self._now is None:
            from django.utils import timezone

            self._now = timezone.now()
        return self._now


# English on purpose: ``calendar``'s names follow the process locale.
_MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = {
    name: number
    for number, full in enumerate(_MONTH_NAMES, start=1)
    for name in (full.lower(), full[:3].lower())
} | {"sept": 9}
# Full names only: "sun" or "mon" as free text should not also mean a date.
_WEEKDAYS = {name.lower(): number for number, name in enumerate(_DAY_NAMES)}

_TIME = (
    r"(?:(?:\s+|T)(?P<hour>[0-9]{1,2}):(?P<minute>[0-9]{2})"
    r"(?::(?P<second>[0-9]{2})(?:\.(?P<fraction>[0-9]{1,6}))?)?"
    r"(?:\s*(?P<ampm>[ap])\.?m\.?)?)?"
)
_ZONE = r"(?:\s*(?P<zone>Z|UTC|GMT|[+-][0-9]{2}(?::?[0-9]{2})?))?"
_DAY_FORMS = (
    r"(?P<year>[0-9]{4})[-/](?P<month>[0-9]{1,2})[-/](?P<day>[0-9]{1,2})",
    r"(?P<short_year>[0-9]{2})-(?P<month>[0-9]{2})-(?P<day>[0-9]{2})",
    r"(?P<month_name>[a-z]{3,9})\.?\s+(?P<day>[0-9]{1,2})(?:st|nd|rd|th)?(?:\s*,\s*|\s+)(?P<year>[0-9]{4})",
    r"(?P<day>[0-9]{1,2})(?:st|nd|rd|th)?\s+(?P<month_name>[a-z]{3,9})\.?,?\s+(?P<year>[0-9]{4})",
)
_MONTH_FORMS = (
    r"(?P<year>[0-9]{4})[-/](?P<month>[0-9]{1,2})",
    r"(?P<month_name>[a-z]{3,9})\.?,?\s+(?P<year>[0-9]{4})",
)
_ABSOLUTE = tuple(
    re.compile(rf"\s*{form}{_TIME}{_ZONE}\s*", re.IGNORECASE | re.ASCII) for form in _DAY_FORMS
) + tuple(re.compile(rf"\s*{form}{_ZONE}\s*", re.IGNORECASE | re.ASCII) for form in _MONTH_FORMS)
_RELATIVE = re.compile(
    r"\s*(?P<count>[0-9]{1,6})\s+(?P<unit>minute|hour|day|week|month|year)s?\s+(?P<direction>ago|from\s+now)\s*",
    re.IGNORECASE | re.ASCII,
)
_NAMED_DAYS = {"today": 0, "yesterday": -1, "tomorrow": 1}


def parse_temporal(value: str, *, now: datetime | None = None, tz: tzinfo = UTC) -> TimeSpan | None:
    """The span a date value covers, or None if it is not a date.

    Accepts what scoped_search documents: ``2024-05-01``, ``2024/05/01``, ``24-05-01``,
    ``"2024-05-01 10:30[:15]"``, ISO 8601 with ``T`` and an offset, ``2024-05`` and
    ``"May 2024"`` (a month), ``"Jan 23, 2004"``, ``"23 Jan 2004"``, ``today``, ``yesterday``,
    ``tomorrow``, weekday names, and ``N minutes|hours|days|weeks|months|years ago|from now``.
    Values without an explicit offset are read in ``tz``.
    """
    return _parse_temporal(value, _Clock(now), tz)


def _parse_temporal(value: str, clock: _Clock, tz: tzinfo) -> TimeSpan | None:
    try:
        span = _relative_span(value, clock, tz) or _absolute_span(value, tz)
        if span is None:
            return None
        # Converting here keeps out-of-range instants (year 1 at +02:00) a parse failure
        # rather than an OverflowError when the database adapter converts them.
        return TimeSpan(span.start.astimezone(UTC), span.end.astimezone(UTC))
    except (ValueError, OverflowError):
        return None


def _midnight(day: date, tz: tzinfo) -> datetime:
    return datetime.combine(day, time(), tzinfo=tz)


def _day_span(day: date, tz: tzinfo) -> TimeSpan:
    # Midnight to midnight, not start + 24h, so a day with a DST change keeps its true length.
    return TimeSpan(_midnight(day, tz), _midnight(day + timedelta(days=1), tz))


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last_day = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last_day))


def _relative_span(value: str, clock: _Clock, tz: tzinfo) -> TimeSpan | None:
    word = value.strip().lower()
    if word in _NAMED_DAYS:
        today = clock().astimezone(tz).date()
        return _day_span(today + timedelta(days=_NAMED_DAYS[word]), tz)
    if word in _WEEKDAYS:
        today = clock().astimezone(tz).date()
        return _day_span(today - timedelta(days=(today.weekday() - _WEEKDAYS[word]) % 7), tz)
    match = _RELATIVE.fullmatch(value)
    if match is None:
        return None
    count = int(match["count"]) * (-1 if match["direction"].lower() == "ago" else 1)
    unit = match["unit"].lower()
    if unit in ("minute", "hour"):
        instant = clock().astimezone(UTC) + timedelta(**{f"{unit}s": count})
        return TimeSpan(instant, instant + timedelta(minutes=1))
    today = clock().astimezone(tz).date()
    if unit in ("day", "week"):
        return _day_span(today + timedelta(**{f"{unit}s": count}), tz)
    return _day_span(_add_months(today, count * (12 if unit == "year" else 1)), tz)


def _absolute_span(value: str, tz: tzinfo) -> TimeSpan | None:
    for pattern in _ABSOLUTE:
        match = pattern.fullmatch(value)
        if match is not None:
            return _span_from_match(match.groupdict(), tz)
    return None


def _span_from_match(parts: dict[str, str | None], tz: tzinfo) -> TimeSpan | None:
    """Build the span from one absolute pattern's groups; a group a form lacks is None."""
    zone = _zone(parts.get("zone")) or tz
    month_name = parts.get("month_name")
    month = _MONTHS.get(month_name.lower(), 0) if month_name else int(parts.get("month") or 0)
    short_year = parts.get("short_year")
    if short_year is not None:
        year = int(short_year) + (1900 if int(short_year) >= 69 else 2000)  # Ruby's pivot
    else:
        year = int(parts.get("year") or 0)
    day_text = parts.get("day")
    if day_text is None:
        first = date(year, month, 1)
        return TimeSpan(_midnight(first, zone), _midnight(_add_months(first, 1), zone))
    day = date(year, month, int(day_text))
    hour_text = parts.get("hour")
    if hour_text is None:
        return _day_span(day, zone)
    second_text = parts.get("second")
    clock_time = time(
        _hour(int(hour_text), parts.get("ampm")),
        int(parts.get("minute") or 0),
        int(second_text or 0),
        int((parts.get("fraction") or "").ljust(6, "0")),
    )
    start = datetime.combine(day, clock_time, tzinfo=zone)
    step = timedelta(seconds=1) if second_text is not None else timedelta(minutes=1)
    return TimeSpan(start, start + step)


def _hour(hour: int, ampm: str | None) -> int:
    if ampm is None:
        return hour
    if not 1 <= hour <= 12:
        raise ValueError("12-hour clock out of range")
    return hour % 12 + (12 if ampm.lower() == "p" else 0)


def _zone(text: str | None) -> tzinfo | None:
    if text is None:
        return None
    if text.upper() in ("Z", "UTC", "GMT"):
        return UTC
    digits = text[1:].replace(":", "")
    offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:] or 0))
    return timezone(-offset if text[0] == "-" else offset)  # ValueError beyond +-24h


# --- Compiling the tree to Q --------------------------------------------------------------


def _nothing() -> Q:
    """Matches no row, and its negation every row: Django short-circuits an empty IN."""
    return Q(pk__in=[])


_BOOLEANS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
_INTEGER = re.compile(r"-?[0-9]{1,20}", re.ASCII)
_WILDCARDS = re.compile(r"[*%]+")


def parse(
    query: str | None, schema: SearchSchema, *, now: datetime | None = None, tz: tzinfo = UTC
) -> Q:
    """Compile a search query into a ``Q`` for ``schema``'s model.

    ``now`` fixes the clock for relative dates (default: ``django.utils.timezone.now()``, read
    only if the query needs it); ``tz`` is the zone dates without an offset are read in.
    The empty query gives ``Q()``, which matches everything.
    """
    return _Compiler(schema, _Clock(now), tz).compile(parse_ast(query))


class _Compiler:
    def __init__(self, schema: SearchSchema, clock: _Clock, tz: tzinfo) -> None:
        self.schema = schema
        self.clock = clock
        self.tz = tz

    def compile(self, node: Node) -> Q:
        match node:
            case Logical(operands=()):
                return Q()
            case Logical(connector="and", operands=operands):
                return _all(self.compile(operand) for operand in operands)
            case Logical(operands=operands):
                return _any(self.compile(operand) for operand in operands)
            case Not(operand=operand):
                return ~self.compile(operand)
            case NullCheck(field=name, is_null=is_null):
                return self.null_check(self.schema.resolve(name), is_null=is_null)
            case Comparison(field=None, operator=operator, values=values):
                return self.default_comparison(operator, values)
            case Comparison(field=str(name), operator=operator, values=values):
                return self.field_comparison(self.schema.resolve(name), operator, values)
            case Term(value=value):
                return self.free_text(value)
        raise AssertionError(f"unexpected node {node!r}")  # pragma: no cover

    def null_check(self, search_field: SearchField, *, is_null: bool) -> Q:
        lookup = search_field.lookup
        if is_null:
            return Q(**{f"{lookup}__isnull": True})
        present = Q(**{f"{lookup}__isnull": False})
        if search_field.kind in _TEXTUAL:
            return present & ~Q(**{lookup: ""})
        return present

    def free_text(self, value: str) -> Q:
        # scoped_search's shorthand: "enabled" alone means "enabled = true".
        named = self.schema.get(value)
        if named is not None and named.kind is FieldKind.BOOLEAN:
            return Q(**{named.lookup: True})
        conditions = []
        for search_field in self.schema.default_fields:
            # A bare term is "~" on text (scoped_search's default operator) and "=" elsewhere.
            operator = Operator.LIKE if search_field.kind in _TEXTUAL else Operator.EQ
            if operator in search_field.allowed_operators:
                condition = self.default_condition(search_field, operator, value)
                if condition is not None:
                    conditions.append(condition)
        return _any(conditions) if conditions else _nothing()

    def default_comparison(self, operator: Operator, values: tuple[str, ...]) -> Q:
        if operator is Operator.IN:
            return _any(self.default_comparison(Operator.EQ, (value,)) for value in values)
        if operator is Operator.NOT_IN:
            return _all(self.default_comparison(Operator.NE, (value,)) for value in values)
        conditions = []
        for search_field in self.schema.default_fields:
            if operator in search_field.allowed_operators:
                condition = self.default_condition(search_field, operator, values[0])
                if condition is not None:
                    conditions.append(condition)
        return _any(conditions) if conditions else _nothing()

    def default_condition(
        self, search_field: SearchField, operator: Operator, value: str
    ) -> Q | None:
        """The condition on one default field, or None if the value cannot apply to it."""
        if not _passes_validator(search_field, operator, value):
            return None
        if search_field.kind is FieldKind.INTEGER and _as_integer(value) is None:
            return None
        if (
            search_field.kind is FieldKind.DATETIME
            and _parse_temporal(value, self.clock, self.tz) is None
        ):
            return None
        return self.field_comparison(search_field, operator, (value,))

    def field_comparison(
        self, search_field: SearchField, operator: Operator, values: tuple[str, ...]
    ) -> Q:
        if operator not in search_field.allowed_operators:
            allowed = " ".join(search_field.allowed_operators)
            raise QueryError(
                f"Operator '{operator}' is not valid for field '{search_field.name}' "
                f"({search_field.kind}); use one of: {allowed}"
            )
        for value in values:
            if not _passes_validator(search_field, operator, value):
                raise QueryError(f"Value '{value}' is not valid for field '{search_field.name}'")
        lookup = search_field.lookup
        match search_field.kind:
            case FieldKind.STRING | FieldKind.TEXT:
                if operator is Operator.LIKE:
                    return _like(lookup, values[0])
                if operator is Operator.UNLIKE:
                    return _present(lookup) & ~_like(lookup, values[0])
                return _scalar(lookup, operator, list(values))
            case FieldKind.INTEGER:
                return _scalar(
                    lookup, operator, [self.integer(search_field, value) for value in values]
                )
            case FieldKind.BOOLEAN:
                return _scalar(lookup, operator, [_boolean(search_field, values[0])])
            case FieldKind.SET:
                return _scalar(
                    lookup, operator, [_set_member(search_field, value) for value in values]
                )
            case FieldKind.DATETIME:
                return _temporal(lookup, operator, self.temporal(search_field, values[0]))
        raise AssertionError(f"unexpected kind {search_field.kind!r}")  # pragma: no cover

    def integer(self, search_field: SearchField, value: str) -> int:
        number = _as_integer(value)
        if number is None:
            raise QueryError(
                f"Value '{value}' is not a valid integer for field '{search_field.name}'"
            )
        return number

    def temporal(self, search_field: SearchField, value: str) -> TimeSpan:
        span = _parse_temporal(value, self.clock, self.tz)
        if span is None:
            hint = (
                ' (quote relative dates, e.g. "2 days ago")'
                if _as_integer(value) is not None
                else ""
            )
            raise QueryError(
                f"Value '{value}' is not a valid date for field '{search_field.name}'{hint}"
            )
        return span


def _passes_validator(search_field: SearchField, operator: Operator, value: str) -> bool:
    if search_field.validator is None or operator in (Operator.LIKE, Operator.UNLIKE):
        return True
    return bool(search_field.validator(value))


def _all(conditions: Iterable[Q]) -> Q:
    combined = Q()
    for condition in conditions:
        combined &= condition
    return combined


def _any(conditions: Iterable[Q]) -> Q:
    combined: Q | None = None
    for condition in conditions:
        combined = condition if combined is None else combined | condition
    return Q() if combined is None else combined


def _present(lookup: str) -> Q:
    return Q(**{f"{lookup}__isnull": False})


def _scalar(lookup: str, operator: Operator, values: list[object]) -> Q:
    """``=``, ``!=``, ordering and list operators on an already-converted value."""
    match operator:
        case Operator.EQ:
            return Q(**{lookup: values[0]})
        case Operator.NE:
            # SQL's "col <> x" never matches NULL; Django's ~Q alone would.
            return _present(lookup) & ~Q(**{lookup: values[0]})
        case Operator.IN:
            return Q(**{f"{lookup}__in": values})
        case Operator.NOT_IN:
            return _present(lookup) & ~Q(**{f"{lookup}__in": values})
        case Operator.GT | Operator.LT | Operator.GTE | Operator.LTE:
            suffix = {
                Operator.GT: "gt",
                Operator.LT: "lt",
                Operator.GTE: "gte",
                Operator.LTE: "lte",
            }[operator]
            return Q(**{f"{lookup}__{suffix}": values[0]})
    raise AssertionError(f"unexpected operator {operator!r}")  # pragma: no cover


def _temporal(lookup: str, operator: Operator, span: TimeSpan) -> Q:
    within = Q(**{f"{lookup}__gte": span.start, f"{lookup}__lt": span.end})
    match operator:
        case Operator.EQ:
            return within
        case Operator.NE:
            return _present(lookup) & ~within
        case Operator.GT:
            return Q(**{f"{lookup}__gte": span.end})
        case Operator.LTE:
            return Q(**{f"{lookup}__lt": span.end})
        case Operator.LT:
            return Q(**{f"{lookup}__lt": span.start})
        case Operator.GTE:
            return Q(**{f"{lookup}__gte": span.start})
    raise AssertionError(f"unexpected operator {operator!r}")  # pragma: no cover


def _like(lookup: str, pattern: str) -> Q:
    """``~``: a case-insensitive substring match, or a whole-value match where ``*``/``%`` are
    wildcards.  Simple shapes use Django's escaped ``i*`` lookups; the rest a regex built
    from escaped literal segments, so no character of the value is ever SQL or regex syntax."""
    segments = _WILDCARDS.split(pattern)
    if len(segments) == 1:
        return Q(**{f"{lookup}__icontains": pattern})
    if len(segments) - 1 > MAX_WILDCARDS:
        raise QueryError(f"The pattern '{pattern}' has more than {MAX_WILDCARDS} wildcards")
    if not any(segments):
        return _present(lookup)
    match segments:
        case ["", middle, ""]:
            return Q(**{f"{lookup}__icontains": middle})
        case [head, ""]:
            return Q(**{f"{lookup}__istartswith": head})
        case ["", tail]:
            return Q(**{f"{lookup}__iendswith": tail})
    # (?s): "*" spans newlines as LIKE's "%" does. \A and \Z anchor at the very ends in both
    # PostgreSQL's and Python's (SQLite's REGEXP) dialects; Python's "$" also matched before a
    # trailing newline, so "b*a" matched "ba\n".
    regex = "(?s)\\A" + ".*".join(re.escape(segment) for segment in segments) + "\\Z"
    return Q(**{f"{lookup}__iregex": regex})


def _as_integer(value: str) -> int | None:
    if not _INTEGER.fullmatch(value):
        return None
    number = int(value)
    return number if _INT_MIN <= number <= _INT_MAX else None


def _boolean(search_field: SearchField, value: str) -> bool:
    try:
        return _BOOLEANS[value.lower()]
    except KeyError:
        raise QueryError(
            f"Value '{value}' is not valid for boolean field '{search_field.name}'; use true/false/yes/no/1/0"
        ) from None


def _set_member(search_field: SearchField, value: str) -> str | int:
    assert search_field.values is not None
    try:
        return search_field.values[value]
    except KeyError:
        allowed = ", ".join(search_field.values)
        raise QueryError(
            f"Value '{value}' is not valid for field '{search_field.name}'; allowed values: {allowed}"
        ) from None


# --- Auto-completion ----------------------------------------------------------------------

_CONNECTORS = ("and", "or")
_PREFIX_OPERATORS = ("not", "has")
_OPERATOR_WORDS = frozenset({"and", "or", "not", "has"})
_LAST_CONNECTOR = re.compile(r"^.*\b(and|or)\b", re.IGNORECASE)


@dataclass(frozen=True)
class _Position:
    """Where the cursor is, grammatically, after the finished tokens of the query."""

    expects: Literal["operand", "after_not", "field", "field_or_term", "value", "after_expression"]
    field: SearchField | None = None
    operator: Operator | None = None
    in_list: bool = False
    word: str = ""


def complete(
    query: str | None,
    schema: SearchSchema,
    *,
    values_for: Callable[[SearchField, str], Iterable[str]] | None = None,
    now: datetime | None = None,
    tz: tzinfo = UTC,
) -> list[dict[str, str]]:
    """Suggestions for what can follow ``query``, as Foreman's ``auto_complete_search`` returns
    them: ``[{"completed", "part", "label", "category"}]``.

    ``label`` is the whole suggested query; Foreman splits it after its last ``and``/``or``
    into ``completed`` + ``part`` and HTML-escapes those two, and so do we.  ``category`` is
    ``"Operators"`` for ``and``/``or``/``not``/``has``.  ``values_for(field, typed)`` supplies
    candidate values (e.g. distinct column values starting with ``typed``); sets, booleans and
    datetimes have built-in suggestions.  Invalid input raises ``QueryError``; Foreman's
    endpoint answers it with ``[{"error": message}]``.
    """
    text = query or ""
    tokens = tokenize(text, partial=True)
    typing = _token_being_typed(text, tokens)
    finished = tokens[:-1] if typing is not None else tokens
    prefix = typing.value if typing is not None else ""
    position = _position_after(finished, schema)
    suggestions = _suggestions(position, schema, prefix, values_for, _Clock(now), tz)
    typed = prefix.lower()
    suggestions = [s for s in suggestions if s.strip('"').lower().startswith(typed)]
    head = text[: typing.start] if typing is not None else text
    return [_foreman_item(head, suggestion) for suggestion in dict.fromkeys(suggestions)]


def _token_being_typed(text: str, tokens: list[Token]) -> Token | None:
    """The last token, if the cursor is still inside it (a word or an open quote)."""
    if not tokens or text[-1:].isspace():
        return None
    last = tokens[-1]
    if last.kind is TokenKind.WORD or (last.kind is TokenKind.STRING and not last.closed):
        return last
    return None


def _position_after(tokens: list[Token], schema: SearchSchema) -> _Position:
    position = _Position("operand")
    for token in tokens:
        position = _step(position, token, schema)
    return position


def _step(position: _Position, token: Token, schema: SearchSchema) -> _Position:
    """One transition of the completion state machine; validates fields and operators the
    way scoped_search validates the query before completing it."""
    match token.kind:
        case TokenKind.LPAREN:
            return (
                dataclasses.replace(position, in_list=True)
                if position.expects == "value"
                else _Position("operand")
            )
        case TokenKind.RPAREN:
            return _Position("after_expression")
        case TokenKind.COMMA:
            return position if position.in_list else _Position("operand")
        case TokenKind.AND | TokenKind.OR:
            return _Position("operand")
        case TokenKind.NOT:
            return _Position("after_not")
        case TokenKind.NULL | TokenKind.NOT_NULL:
            return _Position("field")
        case TokenKind.COMPARE:
            if position.expects == "field_or_term":
                search_field = schema.resolve(position.word)
                _check_operator(search_field, token)
                return _Position("value", search_field, token.operator)
            return _Position("value", None, token.operator)
    # A word or a quoted string.
    if position.expects == "field":
        schema.resolve(token.value)
        return _Position("after_expression")
    if position.expects == "value":
        return position if position.in_list else _Position("after_expression")
    return _Position("field_or_term", word=token.value)


def _check_operator(search_field: SearchField, token: Token) -> None:
    if token.operator not in search_field.allowed_operators:
        allowed = " ".join(search_field.allowed_operators)
        raise QueryError(
            f"Operator '{token.operator}' is not valid for field '{search_field.name}' "
            f"({search_field.kind}); use one of: {allowed}",
            position=token.start,
        )


def _field_names(schema: SearchSchema) -> list[str]:
    """Field names to offer; a prefix field is offered as ``name.`` for the user to add a key."""
    names = []
    for name in schema.names:
        search_field = schema.get(name)
        names.append(f"{name}." if search_field is not None and search_field.prefix else name)
    return names


def _suggestions(
    position: _Position,
    schema: SearchSchema,
    typed: str,
    values_for: Callable[[SearchField, str], Iterable[str]] | None,
    clock: _Clock,
    tz: tzinfo,
) -> list[str]:
    fields = _field_names(schema)
    match position.expects:
        case "operand":
            return [*fields, *_PREFIX_OPERATORS]
        case "after_not" | "field":
            return fields
        case "field_or_term":
            search_field = schema.get(position.word)
            if search_field is not None and not typed:
                return list(search_field.allowed_operators)
            return [*_CONNECTORS, *fields, *_PREFIX_OPERATORS]
        case "after_expression":
            return [*_CONNECTORS, *fields, *_PREFIX_OPERATORS]
        case "value":
            if position.field is None:
                return []
            return [
                _quote(value) for value in _values(position.field, typed, values_for, clock, tz)
            ]
    raise AssertionError(f"unexpected position {position!r}")  # pragma: no cover


def _values(
    search_field: SearchField,
    typed: str,
    values_for: Callable[[SearchField, str], Iterable[str]] | None,
    clock: _Clock,
    tz: tzinfo,
) -> list[str]:
    match search_field.kind:
        case FieldKind.SET:
            assert search_field.values is not None
            return list(search_field.values)
        case FieldKind.BOOLEAN:
            return ["true", "false"]
        case FieldKind.DATETIME:
            return _temporal_suggestions(clock().astimezone(tz).date())
    return [str(value) for value in values_for(search_field, typed)] if values_for else []


def _temporal_suggestions(today: date) -> list[str]:
    """scoped_search's fixed list for date fields."""
    weekdays = [_DAY_NAMES[(today - timedelta(days=days)).weekday()] for days in range(2, 6)]
    week_ago = today - timedelta(days=7)
    return [
        "30 minutes ago",
        "1 hour ago",
        "2 hours ago",
        "Today",
        "Yesterday",
        "Tomorrow",
        *weekdays,
        "6 days ago",
        f"{_MONTH_NAMES[week_ago.month - 1][:3]} {week_ago.day:02d},{week_ago.year}",
        "2 weeks from now",
    ]


def _quote(value: str) -> str:
    """A value as it must be typed to come back as one word."""
    try:
        tokens = tokenize(value)
    except QueryError:
        tokens = []
    if len(tokens) == 1 and tokens[0].kind is TokenKind.WORD and tokens[0].text == value:
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _foreman_item(head: str, suggestion: str) -> dict[str, str]:
    stem = head.rstrip()
    label = f"{stem} {suggestion}" if stem else suggestion
    last_word = label.rsplit(None, 1)[-1]
    # Foreman: part = label.sub(/^.*\b(and|or)\b/i) { the matched connector }.
    part = _LAST_CONNECTOR.sub(lambda match: match.group(0).split()[-1], label, count=1)
    completed = label[: len(label) - len(part)] if label.endswith(part) else label
    return {
        "completed": html.escape(completed),
        "part": html.escape(part),
        "label": label,
        "category": "Operators" if last_word in _OPERATOR_WORDS else "",
    }
