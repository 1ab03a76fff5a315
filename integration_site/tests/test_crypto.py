"""Secrets sealed at rest: each purpose has its own key, and a rotated key still opens."""

import pytest

from integration_site.crypto import SecretUnreadable, secret_open, secret_seal

PURPOSE = b"integration-site.tests.one"


def test_a_sealed_secret_opens_under_its_purpose_and_holds_no_clear_text():
    sealed = secret_seal("0123456789abcdef", purpose=PURPOSE)
    assert "0123456789abcdef" not in sealed
    assert secret_open(sealed, purpose=PURPOSE) == "0123456789abcdef"


def test_another_purpose_cannot_open_it():
    sealed = secret_seal("s3cret", purpose=PURPOSE)
    with pytest.raises(SecretUnreadable):
        secret_open(sealed, purpose=b"integration-site.tests.two")


def test_a_new_key_opens_it_only_with_the_old_one_as_fallback(settings):
    sealed = secret_seal("s3cret", purpose=PURPOSE)
    old_key = settings.SECRET_KEY
    settings.SECRET_KEY = "a-new-key"
    settings.SECRET_KEY_FALLBACKS = []
    with pytest.raises(SecretUnreadable):
        secret_open(sealed, purpose=PURPOSE)
    settings.SECRET_KEY_FALLBACKS = [old_key]
    assert secret_open(sealed, purpose=PURPOSE) == "s3cret"


@pytest.mark.parametrize("stored", ["", "not-a-fernet-token"])
def test_nothing_or_garbage_is_unreadable(stored):
    with pytest.raises(SecretUnreadable):
        secret_open(stored, purpose=PURPOSE)
