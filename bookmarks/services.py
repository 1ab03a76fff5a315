"""
Writes for saved searches. Every save validates the bookmark the same way (`Bookmark.clean`:
a controller we serve, a query the one parser accepts for that controller, Foreman's name
rule) and is audited through the model's `@audited` declaration, in the same transaction.
"""

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from bookmarks.models import Bookmark
from integration_site.authentication import TokenPrincipal


def _owner_of(principal) -> dict:
    if isinstance(principal, TokenPrincipal):
        return {"owner_token": principal.token}
    if principal is not None and principal.is_authenticated:
        return {"owner": principal}
    return {}


def _save(bookmark: Bookmark) -> Bookmark:
    # Constraints are left to clean() (same rule, one message) and to the database.
    bookmark.full_clean(validate_constraints=False)
    try:
        with transaction.atomic():
            bookmark.save()
    except IntegrityError as exc:
        # Two saves of one name by one owner raced past clean(); the unique index decided.
        raise ValidationError(
            {"name": f"Name has already been taken: '{bookmark.name}' was just saved."}
        ) from exc
    return bookmark


def bookmark_create(
    *, principal, name: str, controller: str, query: str, public: bool = False
) -> Bookmark:
    """Save a search owned by `principal` (a user, or an API token acting as itself)."""
    bookmark = Bookmark(
        name=name, controller=controller, query=query, public=public, **_owner_of(principal)
    )
    return _save(bookmark)


def bookmark_update(
    *,
    bookmark: Bookmark,
    name: str | None = None,
    controller: str | None = None,
    query: str | None = None,
    public: bool | None = None,
) -> Bookmark:
    """Change the given attributes (None leaves one as it is); the owner never changes."""
    changes = {"name": name, "controller": controller, "query": query, "public": public}
    for attribute, value in changes.items():
        if value is not None:
            setattr(bookmark, attribute, value)
    return _save(bookmark)


def bookmark_delete(*, bookmark: Bookmark) -> None:
    with transaction.atomic():
        bookmark.delete()
