import secrets
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from integration_site.authentication import forget_cached_token
from integration_site.models import ApiToken, api_token_digest
from integration_site.scopes import Scope

TOKEN_PREFIX = "ist_"


class UnknownScope(ValueError):
    pass


def _validate_scopes(scopes: list[str]) -> list[str]:
    unknown = sorted(set(scopes) - set(Scope.values))
    if unknown:
        raise UnknownScope(
            f"Unknown scope(s): {', '.join(unknown)}. Known scopes: {', '.join(Scope.values)}."
        )
    return sorted(set(scopes))


@transaction.atomic
def api_token_create(
    *, name: str, scopes: list[str], expires_at: datetime | None = None, user=None
) -> tuple[ApiToken, str]:
    """Create a token and return it with its secret, which is never stored or shown again."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        name=name,
        prefix=secret[:10],
        digest=api_token_digest(secret),
        scopes=_validate_scopes(scopes),
        expires_at=expires_at,
        user=user,
    )
    token.full_clean()
    token.save()
    return token, secret


@transaction.atomic
def api_token_revoke(*, token: ApiToken) -> ApiToken:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    forget_cached_token(token.digest)
    return token
