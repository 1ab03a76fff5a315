"""
Retraced's search language (retraced `src/models/event/index.ts` parseQuery and `filter.ts`,
which read it with search-query-parser), compiled to a Django `Q` over the audit trail.

    action:user.login,user.* crud:c,u received:2024-05-01,2024-06-01 actor.id:u1 failed login

- `keyword:value` terms; a comma list is an OR of its values; terms AND together.
- `action` matches exactly, or as a prefix when the value ends in `*`.
- `crud` takes letters (`crud:c,u,d`, or `crud:cud` as retraced-js writes it).
- `received` and `created` take `start,end`: the half-open range `start <= t < end`. Either end
  may be left empty (`received:,2024-01-01`), which Retraced documents but rejects.
- `actor.id`, `target.id`, `external_id` and `fields.<key>` match exactly; `actor.name`,
  `target.name`, `target.type` and `description` match when every word of the value appears.
- `location` and every other word are free text: each must appear in one of the event's text
  columns (FREE_TEXT_COLUMNS). A quoted phrase (`"disk full"`) is one term.
- `-keyword:value` excludes what `keyword:value` would match.

Deviations from Retraced (docs/api-compat.md "Retraced: search and GraphQL") are deliberate:
an unknown keyword, a bad date, an unterminated quote or a query over the limits below is a
clear error (`QueryError`, answered as a 400) where Retraced drops the term or fails later.
"""

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Q, QuerySet
from django.db.models.fields.json import KeyTextTransform
from django.db.models.lookups import Exact

from audits.models import AuditEvent, Crud
from audits.search.dates import parse_temporal
from audits.search.document import document_narrowed
from audits.search.errors import QueryError

__all__ = [
    "MAX_QUERY_CHARS",
    "MAX_TERMS",
    "RetracedQuery",
    "SearchScope",
    "retraced_events_search",
    "retraced_query_parse",
    "retraced_query_q",
]

# Bounds on one query: the work a request may ask of the database grows with its terms.
MAX_QUERY_CHARS = 2000
MAX_TERMS = 40  # counting each value of a comma list
MAX_VALUE_CHARS = 255  # the longest value any searched column holds

QUOTES = "\"'"
# Keywords whose values match one column exactly, and those matched word by word.
EXACT_KEYWORDS = {"actor.id": "actor_id", "target.id": "target_id", "external_id": "external_id"}
WORD_KEYWORDS = {
    "actor.name": "actor_name",
    "target.name": "target_name",
    "target.type": "target_type",
    "description": "description",
}
RANGE_KEYWORDS = {"received": "received_at", "created": "created_at"}
KEYWORDS = (
    "action",
    "crud",
    *RANGE_KEYWORDS,
    *EXACT_KEYWORDS,
    *WORD_KEYWORDS,
    "location",
    "fields.<key>",
)
FIELDS_PREFIX = "fields."
# Where a free-text term may appear. Retraced searches the whole event document; these are
# columns of the search document PostgreSQL's trigram index covers (migration 0020), so a
# term is one index scan: with the ids and group names too, every free-text search read the
# whole table (2.3 s on 1M events, docs/benchmarks.md). Ids have their keywords.
FREE_TEXT_COLUMNS = ("action", "description", "actor_name", "target_name")


@dataclass(frozen=True)
class SearchScope:
    """
    Where a search may look: always one project and environment; viewer and enterprise tokens
    add their group, a target-scoped viewer its target. `hide_reads` is the viewer's default:
    read events (crud `r`) are left out unless the query asks for a crud itself.
    """

    project: str
    environment: str
    group_id: str | None = None
    target_id: str | None = None
    hide_reads: bool = False

    @property
    def slot_key(self) -> str:
        """Who the scope's searches are (a token's project and environment, a group, a
        target), for what one caller may run at a time."""
        return "\x1f".join(
            (self.project, self.environment, self.group_id or "", self.target_id or "")
        )


@dataclass(frozen=True)
class Term:
    keyword: str  # "" for free text
    values: tuple[str, ...]
    exclude: bool = False


@dataclass
class RetracedQuery:
    """A parsed query: its terms in order, and whether it names `crud` (see hide_reads)."""

    terms: list[Term] = field(default_factory=list)

    @property
    def names_crud(self) -> bool:
        return any(term.keyword == "crud" for term in self.terms)

    @property
    def names_received(self) -> bool:
        return any(term.keyword == "received" and not term.exclude for term in self.terms)


def retraced_query_parse(text: str) -> RetracedQuery:
    """Parse Retraced's search syntax; every problem raises `QueryError` naming it."""
    if len(text) > MAX_QUERY_CHARS:
        raise QueryError(f"The search query is longer than {MAX_QUERY_CHARS} characters.")
    if "\x00" in text:
        raise QueryError("The search query contains a NUL character.")
    query = RetracedQuery()
    count = 0
    position = 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position >= len(text):
            break
        term, position = _read_term(text, position)
        count += len(term.values)
        if count > MAX_TERMS:
            raise QueryError(f"The search query has more than {MAX_TERMS} terms.")
        _check_term(term)
        query.terms.append(term)
    return query


def _read_term(text: str, start: int) -> tuple[Term, int]:
    if text[start] in QUOTES:
        phrase, end = _read_quoted(text, start)
        _expect_term_end(text, end)
        return Term("", (phrase,)), end
    end = start
    while end < len(text) and not text[end].isspace() and text[end] != ":":
        end += 1
    if end < len(text) and text[end] == ":" and end > start:
        keyword = text[start:end]
        exclude = keyword.startswith("-") and len(keyword) > 1
        keyword = keyword.removeprefix("-") if exclude else keyword
        values, end = _read_values(text, end + 1, keyword)
        return Term(keyword, tuple(values), exclude), end
    while end < len(text) and not text[end].isspace():
        end += 1
    return Term("", (text[start:end],)), end


def _read_values(text: str, position: int, keyword: str) -> tuple[list[str], int]:
    """A comma list after `keyword:`; each value bare or quoted (a quoted comma is literal)."""
    values: list[str] = []
    while True:
        if position < len(text) and text[position] in QUOTES:
            value, position = _read_quoted(text, position)
        else:
            end = position
            while end < len(text) and not text[end].isspace() and text[end] not in ",":
                end += 1
            value, position = text[position:end], end
        values.append(value)
        if position < len(text) and text[position] == ",":
            position += 1
            continue
        _expect_term_end(text, position)
        return values, position


def _read_quoted(text: str, start: int) -> tuple[str, int]:
    quote = text[start]
    chars: list[str] = []
    position = start + 1
    while position < len(text):
        char = text[position]
        if char == "\\" and position + 1 < len(text):
            chars.append(text[position + 1])
            position += 2
            continue
        if char == quote:
            return "".join(chars), position + 1
        chars.append(char)
        position += 1
    raise QueryError(f"Unterminated quote starting at character {start + 1}.", position=start)


def _expect_term_end(text: str, position: int) -> None:
    if position < len(text) and not text[position].isspace():
        raise QueryError(
            f"Unexpected {text[position]!r} at character {position + 1}: put a space between "
            "terms.",
            position=position,
        )


def _check_term(term: Term) -> None:
    name = f"{term.keyword}:" if term.keyword else "Free text"
    if term.keyword and term.keyword not in KEYWORDS and not _is_fields_keyword(term.keyword):
        raise QueryError(
            f"Unknown search keyword {term.keyword!r}. Keywords: {', '.join(KEYWORDS)}. "
            f'Quote text that contains a colon ("10:30").'
        )
    for value in term.values:
        if len(value) > MAX_VALUE_CHARS:
            raise QueryError(f"{name} value longer than {MAX_VALUE_CHARS} characters.")
    if term.keyword in RANGE_KEYWORDS:
        return  # checked when compiled: the range's ends are read there
    if term.keyword and not all(value.strip() for value in term.values):
        raise QueryError(f"{name} needs a value after the colon (and between commas).")
    if term.keyword == "crud":
        letters = {letter for value in term.values for letter in value}
        if unknown := letters - set(Crud.values):
            raise QueryError(
                f"crud: takes the letters c, r, u and d (got {''.join(sorted(unknown))!r})."
            )


def _is_fields_keyword(keyword: str) -> bool:
    return keyword.startswith(FIELDS_PREFIX) and len(keyword) > len(FIELDS_PREFIX)


def retraced_query_q(query: RetracedQuery) -> Q:
    """The `Q` a parsed query selects (without the scope: see retraced_events_search). On
    PostgreSQL each word also tests the search document, which one trigram index serves
    (audits.search.document)."""
    condition = Q()
    for term in query.terms:
        term_q = _term_q(term)
        condition &= ~term_q if term.exclude else term_q
    return document_narrowed(condition)


def _any_of(conditions) -> Q:
    combined = Q()
    for condition in conditions:
        combined |= condition
    return combined


def _all_words(column: str, value: str) -> Q:
    """Every word of `value` appears in `column` (Retraced: plainto_tsquery, all terms)."""
    words = Q()
    for word in value.split():
        words &= Q(**{f"{column}__icontains": word})
    return words


def _term_q(term: Term) -> Q:
    keyword, values = term.keyword, term.values
    if keyword == "action":
        return _any_of(
            Q(action__startswith=value[:-1]) if value.endswith("*") else Q(action=value)
            for value in values
        )
    if keyword == "crud":
        return Q(crud__in=sorted({letter for value in values for letter in value}))
    if keyword in RANGE_KEYWORDS:
        return _range_q(keyword, values)
    if keyword in EXACT_KEYWORDS:
        return Q(**{f"{EXACT_KEYWORDS[keyword]}__in": values})
    if keyword in WORD_KEYWORDS:
        return _any_of(_all_words(WORD_KEYWORDS[keyword], value) for value in values)
    if keyword.startswith(FIELDS_PREFIX):
        key = keyword.removeprefix(FIELDS_PREFIX)
        # An expression, not `fields__<key>`: a key is data, never part of a lookup path.
        return _any_of(Q(Exact(KeyTextTransform(key, "fields"), value)) for value in values)
    # Free text and location: every value must appear in some text column.
    return Q(*(_free_text_q(value) for value in values))


def _free_text_q(value: str) -> Q:
    return _any_of(Q(**{f"{column}__icontains": value}) for column in FREE_TEXT_COLUMNS)


def _range_q(keyword: str, values: tuple[str, ...]) -> Q:
    if len(values) != 2 or not any(value.strip() for value in values):
        raise QueryError(
            f"{keyword}: takes a range start,end (either may be empty: {keyword}:,<end> or "
            f"{keyword}:<start>,), got {','.join(values)!r}."
        )
    column = RANGE_KEYWORDS[keyword]
    start, end = (_instant(keyword, value) for value in values)
    condition = Q()
    if start is not None:
        condition &= Q(**{f"{column}__gte": start})
    if end is not None:
        condition &= Q(**{f"{column}__lt": end})
    return condition


def _instant(keyword: str, value: str) -> datetime | None:
    if not value.strip():
        return None
    span = parse_temporal(value)
    if span is None:
        raise QueryError(
            f"{keyword}: cannot read {value!r} as a date and time; use ISO 8601 "
            "(2024-05-01 or 2024-05-01T10:30:00Z)."
        )
    return span.start


def retraced_counted_cruds(scope: SearchScope, query: RetracedQuery) -> frozenset[str] | None:
    """
    The crud values ("" for none) of the events `retraced_events_search` selects, when that
    is all it selects on within the project, environment and group: a query of `crud` terms
    only (or none) in a scope without a target. Then its count is a sum of scope counters
    (audits.counters.audit_scope_count). None for any other query.
    """
    if scope.target_id is not None or any(term.keyword != "crud" for term in query.terms):
        return None
    cruds = set(Crud.values) | {""}
    for term in query.terms:  # as _term_q: each value's letters
        letters = {letter for value in term.values for letter in value}
        cruds = cruds - letters if term.exclude else cruds & letters
    if scope.hide_reads and not query.names_crud:
        cruds.discard(Crud.READ)
    return frozenset(cruds)


def retraced_events_search(scope: SearchScope, text: str | RetracedQuery) -> QuerySet[AuditEvent]:
    """
    The events of `scope` that Retraced's query (text, or already parsed) selects, unordered.
    The scope is applied whatever the query says: a query can narrow it, never widen it.
    """
    query = retraced_query_parse(text) if isinstance(text, str) else text
    events = AuditEvent.objects.filter(project=scope.project, environment=scope.environment)
    if scope.group_id is not None:
        events = events.filter(group_id=scope.group_id)
    if scope.target_id is not None:
        events = events.filter(target_id=scope.target_id)
    if scope.hide_reads and not query.names_crud:
        events = events.exclude(crud=Crud.READ)
    return events.filter(retraced_query_q(query))
