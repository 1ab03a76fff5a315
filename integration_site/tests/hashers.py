"""A password hasher for tests that counts its work, to prove a refusal hashed nothing."""

from django.contrib.auth.hashers import MD5PasswordHasher


class CountingPasswordHasher(MD5PasswordHasher):
    """
    Django's test hasher, counting each password it checks (`verify`) or hashes (`encode`:
    Django hashes the password of an unknown user too, so timing does not tell).
    """

    algorithm = "counting_md5"
    calls = 0
    _verifying = False

    def encode(self, password, salt):
        if not self._verifying:  # MD5's verify encodes: one check, one count
            type(self).calls += 1
        return super().encode(password, salt)

    def verify(self, password, encoded):
        type(self).calls += 1
        self._verifying = True
        try:
            return super().verify(password, encoded)
        finally:
            self._verifying = False
