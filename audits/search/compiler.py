"""Compiling the syntax tree against a schema into a Django ``Q``.

Values reach the database only as query parameters; ``~`` patterns become escaped ``i*``
lookups or an ``ilike`` pattern whose literal parts are escaped, never a regular expression
(``audits.search.lookups``).
"""

import re
from collections.abc import Iterable
from datetime import UTC, datetime, tzinfo

from django.db.models import Q

from audits.search.dates import Clock, TimeSpan, temporal_span
from audits.search.errors import QueryError
from audits.search.lookups import like_escape
from audits.search.parser import Comparison, Logical, Node, Not, NullCheck, Term, parse_ast
from audits.search.schema import FieldKind, Operator, SearchField, SearchSchema

__all__ = ["MAX_WILDCARDS", "parse"]

# Each wildcard run becomes a LIKE ``%``, which both databases match without backtracking
# blow-up; the cap still bounds the work one pattern can ask for per row.
MAX_WILDCARDS = 8
# Values beyond a signed 64-bit integer cannot match any integer column and make some database
# drivers raise instead of returning no rows.
_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1
_TEXTUAL = frozenset({FieldKind.STRING, FieldKind.TEXT})


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
    return _Compiler(schema, Clock(now), tz).compile(parse_ast(query))


class _Compiler:
    def __init__(self, schema: SearchSchema, clock: Clock, tz: tzinfo) -> None:
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
            and temporal_span(value, self.clock, self.tz) is None
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
        span = temporal_span(value, self.clock, self.tz)
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
    wildcards.  Simple shapes use Django's escaped ``i*`` lookups; the rest an anchored LIKE
    pattern built from escaped literal segments, so ``%``, ``_`` and ``\\`` in the value are
    literal and no character of it is ever SQL syntax."""
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
    # LIKE is anchored at both ends and its "%" spans newlines, as "*" must.
    return Q(**{f"{lookup}__ilike": "%".join(like_escape(segment) for segment in segments)})


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
