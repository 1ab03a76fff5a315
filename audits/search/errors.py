"""The one error of the search language: a user's query that cannot be understood."""

__all__ = ["QueryError"]


class QueryError(ValueError):
    """A search query that cannot be understood; the message says why.

    ``position`` is the offset in the query where the problem was found, when known, so a UI
    can point at it.
    """

    def __init__(self, message: str, *, position: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.position = position
