"""
Secrets the site must use again (a directory's bind password), encrypted at rest with a key
derived from DJANGO_SECRET_KEY. SECRET_KEY_FALLBACKS still decrypt, so the key can rotate:
re-save the source after rotating to re-encrypt under the new key.
"""

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

_PREFIX = "fernet:"


class SecretUnreadable(ValueError):
    pass


def _fernet(secret_key: str) -> Fernet:
    # A purpose string keeps this key distinct from every other use of SECRET_KEY.
    digest = hashlib.sha256(b"integration-site.console.secret:" + secret_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def _keys() -> MultiFernet:
    keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return MultiFernet([_fernet(key) for key in keys])


def secret_encrypt(plaintext: str) -> str:
    if not plaintext:
        return ""
    return _PREFIX + _keys().encrypt(plaintext.encode()).decode()


def secret_decrypt(stored: str) -> str:
    if not stored:
        return ""
    if not stored.startswith(_PREFIX):
        raise SecretUnreadable("The stored secret is not in the expected format; enter it again.")
    try:
        return _keys().decrypt(stored.removeprefix(_PREFIX).encode()).decode()
    except InvalidToken as exc:
        raise SecretUnreadable(
            "The stored secret cannot be decrypted (DJANGO_SECRET_KEY changed?); enter it again."
        ) from exc
