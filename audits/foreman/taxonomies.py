"""
Foreman's taxonomies, locations and organizations: the fields their `search=` knows, and
the taxonomy context (`location_id`, `organization_id`) a request may set.
"""

from django.db.models import Model
from rest_framework import exceptions

from audits.search.schema import FieldKind, SearchField, SearchSchema

TAXONOMY_SEARCH_SCHEMA = SearchSchema(
    [
        SearchField("name", "name", FieldKind.STRING, default=True),
        SearchField("title", "title", FieldKind.STRING, default=True),
        SearchField("description", "description", FieldKind.TEXT),
        SearchField("id", "id", FieldKind.INTEGER),
    ]
)


def taxonomy_from_context(model: type[Model], value, label: str) -> Model | None:
    """The Location or Organization a context parameter names; a 404 for an unknown id."""
    if value in (None, ""):
        return None  # Foreman: a blank context means "any"
    found = model.objects.filter(pk=value).first()
    if found is None:
        raise exceptions.NotFound(f"{label} with id {value} not found")
    return found
