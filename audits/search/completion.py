"""Auto-completion: what can follow a partial query, as Foreman's endpoint suggests it."""

import dataclasses
import html
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Literal

from audits.search.dates import DAY_NAMES, MONTH_NAMES, Clock
from audits.search.errors import QueryError
from audits.search.schema import FieldKind, Operator, SearchField, SearchSchema
from audits.search.tokens import Token, TokenKind, tokenize

__all__ = ["complete"]

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
    suggestions = _suggestions(position, schema, prefix, values_for, Clock(now), tz)
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
    clock: Clock,
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
    clock: Clock,
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
    weekdays = [DAY_NAMES[(today - timedelta(days=days)).weekday()] for days in range(2, 6)]
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
        f"{MONTH_NAMES[week_ago.month - 1][:3]} {week_ago.day:02d},{week_ago.year}",
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
