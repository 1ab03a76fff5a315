"""The audit trail's search document: one text expression over the event's text columns.

On PostgreSQL one trigram GIN index (migration 0020) covers ``UPPER()`` of this expression,
in place of one trigram index per column: an insert maintains one index instead of seven, and
a term that appears in several columns of a row is indexed once. The planner uses an
expression index only for a query that contains the same expression, so a search on a
column of the document keeps its own condition, exact as before, and gains one on the
document that the index serves:

    UPPER(<document>) LIKE '%X%' AND UPPER(description) LIKE '%X%'

A value in the column is a value in the document (the document holds the column whole), so
the added condition never removes a row the search matched. ``document_narrowed`` adds it to
every ``~``-style leaf of a ``Q`` on a document column; PostgreSQL factors the shared
document condition out of an OR (free text's ``a ~ x or b ~ x ...``), so one index scan
serves it. SQLite has no such index: there the ``Q`` is left as it was.
"""

from django.db import connection
from django.db.models import BooleanField, F, Func, Q, TextField, Value
from django.db.models.functions import Cast, Coalesce
from django.db.models.lookups import IContains, IEndsWith, IStartsWith

from audits.search.lookups import ILike

__all__ = ["SEARCH_DOCUMENT_COLUMNS", "SearchDocument", "document_narrowed"]

# In this order, joined by single spaces: migration 0020 indexes exactly this expression
# (audits/search/tests/test_document.py holds the two together). The columns the search
# languages match by substring: Foreman's free text (action, name, description, user,
# target, comment) and `changes ~`, Retraced's free text and `target.type` words.
SEARCH_DOCUMENT_COLUMNS = (
    "action",
    "name",
    "description",
    "actor_name",
    "target_type",
    "target_name",
    "comment",
    "audited_changes",
)
# The lookups, as the search compilers name them, whose values the document contains:
# Foreman's `changes` is the text of audited_changes under an alias.
_DOCUMENT_LOOKUPS = frozenset({*SEARCH_DOCUMENT_COLUMNS, "changes_text"})
# Case-insensitive matches a document condition can narrow; `istartswith` and `iendswith`
# values are contained in the column, so in the document.
_NARROWED_LOOKUPS = {
    "icontains": IContains,
    "istartswith": IStartsWith,
    "iendswith": IEndsWith,
    "ilike": ILike,
}


class SearchDocument(Func):
    """``(action || ' ' || name || ... || (audited_changes)::text)``: never NULL, since every
    column is NOT NULL."""

    template = "(%(expressions)s)"
    arg_joiner = " || ' ' || "
    output_field = TextField()

    def __init__(self) -> None:
        super().__init__(
            *(
                Cast(column, TextField()) if column == "audited_changes" else F(column)
                for column in SEARCH_DOCUMENT_COLUMNS
            )
        )


def _document_condition(suffix: str, value: str) -> Q:
    if suffix == "ilike":
        # The column's whole value matches the anchored pattern; the document holds it
        # somewhere inside.
        return Q(ILike(SearchDocument(), f"%{value}%"))
    return Q(IContains(SearchDocument(), value))


def _column_condition(column: str, suffix: str, value: str) -> Q:
    """The column's own match, exactly as `column__suffix=value`, written so that PostgreSQL
    estimates it at one half instead of LIKE's 0.5 % (without statistics on UPPER(column), which
    only the per-column indexes gave): the document condition, estimated from its index's
    statistics, then decides the plan. Multiplied by 0.5 %, every match looked rare, and a
    common word (13 % of rows) was read whole through the index and sorted, 1.6 s on 1M
    events, where walking the newest rows finds a page in a few hundred. In a WHERE clause
    COALESCE(x, false) is x: a NULL already rejects the row; it is never negated here."""
    matches = _NARROWED_LOOKUPS[suffix](F(column), value)
    return Q(Coalesce(matches, Value(False), output_field=BooleanField()))


def document_narrowed(q: Q) -> Q:
    """`q` with a document condition beside each case-insensitive match on a document column
    (PostgreSQL only). Leaves under a negation are left alone: `not (doc and col)` is `not
    col` already, and the index cannot serve a negation."""
    if connection.vendor != "postgresql":
        return q
    return _narrowed(q, negated=False)


def _narrowed(q: Q, *, negated: bool) -> Q:
    negated ^= q.negated
    rewritten = Q()
    rewritten.connector, rewritten.negated = q.connector, q.negated
    for child in q.children:
        if isinstance(child, Q):
            rewritten.children.append(_narrowed(child, negated=negated))
            continue
        if isinstance(child, tuple) and not negated:
            column, _, suffix = child[0].partition("__")
            if column in _DOCUMENT_LOOKUPS and suffix in _NARROWED_LOOKUPS:
                document = _document_condition(suffix, child[1])
                rewritten.children.append(document & _column_condition(column, suffix, child[1]))
                continue
        rewritten.children.append(child)
    return rewritten
