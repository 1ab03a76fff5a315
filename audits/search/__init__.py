"""Foreman's scoped_search query language, compiled to a Django ``Q``.

One parser serves the ``search=`` parameter of the Foreman-compatible API and the admin search
box, so the same query means the same rows everywhere.  The modules, each importing only those
listed before it (and ``audits.models``, for ``fields``):

- ``errors``: ``QueryError``, raised for every problem with a user's query.
- ``schema``: ``Operator``, ``FieldKind``, ``SearchField`` and ``SearchSchema``, the
  searchable names of one model and the ORM paths they map to.
- ``tokens``: ``tokenize(query)`` turns the text into ``Token``s (words, quoted strings,
  operators, keywords, parentheses, commas), each with its source position.
- ``parser``: ``parse_ast(query)`` runs a recursive-descent parser over the tokens and returns a
  small AST (``Term``, ``Comparison``, ``NullCheck``, ``Not``, ``Logical``).  It knows nothing
  of fields.
- ``dates``: ``parse_temporal(value)``, the span of time a date value covers.
- ``lookups``: the ``ilike`` lookup ``~`` patterns with wildcards compile to.
- ``compiler``: ``parse(query, schema)`` compiles the AST against a ``SearchSchema`` into a
  ``Q``.  It never produces SQL text; every value reaches the database as a query parameter.
- ``completion``: ``complete(query, schema)`` reuses the tokenizer and the schema's field
  knowledge to suggest what can come next, in the shape Foreman's ``auto_complete_search``
  endpoint returns.
- ``document``: the search document, one expression over the event's text columns that
  PostgreSQL's trigram index covers, and ``document_narrowed``, which adds a condition on it
  beside each ``~`` on those columns so the index serves them.
- ``fields``: the audit trail's field map (``AUDIT_SEARCH_SCHEMA``, ``FOREMAN_FIELD_NAMES``)
  and its entry points (``audit_search``, ``audit_search_q``, ``audit_order_by``,
  ``audit_search_values``).

Import from those modules; this package re-exports nothing.

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
15. Dates are read from a fixed list of spellings (see ``dates.parse_temporal``), not by Ruby's
    ``Time.zone.parse``: a bare year (``2024``) or ``01/02/2009`` is not a date, so it is an
    error for a datetime field (see 1) and plain text in free-text search.
16. Limits that keep every failure a ``QueryError``: no NUL characters or unpaired surrogates
    (the database driver would raise), at most ``parser.MAX_DEPTH`` levels of nesting (the
    Python stack), at most ``compiler.MAX_WILDCARDS`` wildcards per ``~`` pattern (work per
    row), and integers within the signed 64-bit range.
"""
