"""The tokenizer: query text to ``Token``s, each with its source position."""

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from audits.search.errors import QueryError
from audits.search.schema import Operator

__all__ = ["Token", "TokenKind", "tokenize"]


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
