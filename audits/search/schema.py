"""What can be searched: operators, field kinds, and the field definitions of a schema.

A ``SearchSchema`` lists the names users may type for one model (or one API) and the ORM path
each maps to; the compiler, the completer and the field maps all read it.
"""

import dataclasses
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from types import MappingProxyType

from audits.search.errors import QueryError

__all__ = ["OPERATORS_BY_KIND", "FieldKind", "Operator", "SearchField", "SearchSchema"]


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
