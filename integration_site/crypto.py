"""
Secrets the site must hand back later, encrypted at rest (Fernet) under a key derived from
DJANGO_SECRET_KEY with HKDF-SHA256. Each use names its own `purpose` (the HKDF info label), so
one use's ciphertext never decrypts as another's. SECRET_KEY_FALLBACKS still decrypt, so the
key can rotate; a value encrypted under a key the site no longer has raises SecretUnreadable,
which callers turn into a marked entry, never a 500.
"""

import base64

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings


class SecretUnreadable(ValueError):
    pass


def _fernet(secret_key: str, purpose: bytes) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(
        secret_key.encode()
    )
    return Fernet(base64.urlsafe_b64encode(key))


def _keys(purpose: bytes) -> MultiFernet:
    # The current key first: MultiFernet encrypts with it and tries the fallbacks to decrypt.
    secret_keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return MultiFernet([_fernet(key, purpose) for key in secret_keys])


def secret_seal(plaintext: str, *, purpose: bytes) -> str:
    return _keys(purpose).encrypt(plaintext.encode()).decode()


def secret_open(sealed: str, *, purpose: bytes) -> str:
    if not sealed:
        raise SecretUnreadable("No secret is stored.")
    try:
        return _keys(purpose).decrypt(sealed.encode()).decode()
    except InvalidToken as exc:
        raise SecretUnreadable(
            "The stored secret cannot be decrypted (DJANGO_SECRET_KEY changed?)."
        ) from exc
