"""Which strings are Foreman's integer ids (in URLs, query parameters and audit targets)."""


def is_decimal_id(value: object) -> bool:
    """
    A string of ASCII digits only. `str.isdigit()` alone also admits other Unicode digits:
    superscript two, which int() refuses (a 500 where a 404 belongs), and Arabic-Indic one
    (U+0661), which int() reads as 1.
    """
    return isinstance(value, str) and value.isascii() and value.isdigit()
