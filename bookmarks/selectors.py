"""Reads for saved searches: which bookmarks a caller sees, and which they may change."""

from django.db.models import Q, QuerySet

from bookmarks.models import Bookmark
from integration_site.authentication import TokenPrincipal


def principal_owner_q(principal) -> Q:
    """Bookmarks owned by `principal`: a user, or the API token a request authenticated with."""
    if isinstance(principal, TokenPrincipal):
        return Q(owner_token_id=principal.token.pk)
    if principal is None or not principal.is_authenticated:
        return Q(pk__in=[])
    return Q(owner_id=principal.pk)


def bookmarks_visible(*, principal) -> QuerySet[Bookmark]:
    """Foreman's `my_bookmarks`: the public ones and the caller's own, whoever the caller is
    (superusers included, as in Foreman)."""
    return Bookmark.objects.filter(Q(public=True) | principal_owner_q(principal)).select_related(
        "owner", "owner_token"
    )


def bookmark_is_owned_by(bookmark: Bookmark, principal) -> bool:
    if isinstance(principal, TokenPrincipal):
        return bookmark.owner_token_id == principal.token.pk
    return (
        principal is not None and principal.is_authenticated and (bookmark.owner_id == principal.pk)
    )


def bookmark_may_change(bookmark: Bookmark, principal) -> bool:
    """The owner may change or delete a bookmark; so may a superuser (Foreman's admin)."""
    return bookmark_is_owned_by(bookmark, principal) or bool(
        getattr(principal, "is_superuser", False)
    )
