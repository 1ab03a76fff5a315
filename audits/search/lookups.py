"""The ``ilike`` lookup the compiler emits for ``~`` patterns with wildcards.

``<path>__ilike=<pattern>`` is SQL's LIKE, case-insensitive, with ``\\`` escaping ``%``, ``_``
and itself. It is built from the backend's own ``icontains`` pieces, so PostgreSQL sees the
same ``UPPER(col::text) LIKE UPPER(%s)`` as ``icontains`` (and the trigram index on the
search document, ``audits.search.document``, serves both), and SQLite sees
``LIKE %s ESCAPE '\\'``.

LIKE, never a regular expression: SQLite's REGEXP is Python's backtracking ``re``, where an
anchored pattern with eight ``.*`` took about 10 s per non-matching value. Both databases
match LIKE's ``%`` without that blow-up (PostgreSQL's ``MatchText`` and SQLite's
``patternCompare`` stop retrying a ``%`` once the rest cannot match further on).

Registered at import on every field (a column of any type, or a computed text column) and on
JSON key transforms, where it compares the key's text as ``icontains`` does.
"""

from django.db.models import Field, Lookup
from django.db.models.fields.json import KeyTransform, KeyTransformTextLookupMixin

__all__ = ["ILike", "like_escape"]

LIKE_ESCAPE = "\\"


def like_escape(literal: str) -> str:
    """``literal`` as a LIKE pattern that matches exactly it (escape char first)."""
    return (
        literal.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2)
        .replace("%", LIKE_ESCAPE + "%")
        .replace("_", LIKE_ESCAPE + "_")
    )


class ILike(Lookup):
    lookup_name = "ilike"
    # The value is a pattern, not a value of the column's type (a JSON key's pattern must not
    # be JSON-encoded).
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs_sql, lhs_params = self.process_lhs(compiler, connection)
        rhs_sql, rhs_params = self.process_rhs(compiler, connection)
        internal_type = self.lhs.output_field.get_internal_type()
        lhs_sql = connection.ops.lookup_cast("icontains", internal_type) % lhs_sql
        # PostgreSQL's LIKE escapes with a backslash by default; SQLite's operator names it.
        return f"{lhs_sql} {connection.operators['icontains'] % rhs_sql}", [
            *lhs_params,
            *rhs_params,
        ]


class KeyTransformILike(KeyTransformTextLookupMixin, ILike):
    """On ``fields__<key>``: the key's text value (``->>``), not its JSON encoding."""


Field.register_lookup(ILike)
KeyTransform.register_lookup(KeyTransformILike)
