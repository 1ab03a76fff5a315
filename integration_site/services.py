import secrets
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from integration_site.authentication import forget_cached_token
from integration_site.models import ApiToken, api_token_digest
from integration_site.permissions import principal_has_scope
from integration_site.registry import registry
from integration_site.scopes import Scope

TOKEN_PREFIX = "ist_"


class UnknownScope(ValueError):
    pass


class ScopeNotHeld(PermissionError):
    """The creator of a token asked for scopes they do not hold themselves."""


def api_token_scopes_not_held(*, creator, scopes: list[str]) -> list[str]:
    """The scopes among `scopes` that `creator` does not hold (superusers hold them all)."""
    return sorted(s for s in set(scopes) if not principal_has_scope(creator, s))


def _validate_scopes(scopes: list[str]) -> list[str]:
    unknown = sorted(set(scopes) - set(Scope.values))
    if unknown:
        raise UnknownScope(
            f"Unknown scope(s): {', '.join(unknown)}. Known scopes: {', '.join(Scope.values)}."
        )
    return sorted(set(scopes))


@transaction.atomic
def api_token_create(
    *,
    name: str,
    scopes: list[str],
    expires_at: datetime | None = None,
    user=None,
    created_by=None,
    project: str = "default",
    environment: str = "production",
) -> tuple[ApiToken, str]:
    """
    Create a token and return it with its secret, which is never stored or shown again.
    `created_by` is the user asking (the admin): a token carries only scopes they hold, so
    `add_apitoken` grants no more than its holder has. None is the operator (the command).
    """
    if created_by is not None:
        missing = api_token_scopes_not_held(creator=created_by, scopes=scopes)
        if missing:
            raise ScopeNotHeld(
                f"You cannot grant scope(s) you do not hold yourself: {', '.join(missing)}."
            )
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        name=name,
        prefix=secret[:10],
        digest=api_token_digest(secret),
        scopes=_validate_scopes(scopes),
        expires_at=expires_at,
        user=user,
        project=project,
        environment=environment,
    )
    token.full_clean()
    for check in registry["token_tenancy_checks"]:
        check(project, environment)
    token.save()
    return token, secret


@transaction.atomic
def api_token_revoke(*, token: ApiToken) -> ApiToken:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    forget_cached_token(token.digest)
    return token
