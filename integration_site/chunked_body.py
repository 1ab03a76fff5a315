"""
Chunked request bodies, for Django. A request sent with `Transfer-Encoding: chunked` carries
no Content-Length; gunicorn de-chunks it and says so (`wsgi.input_terminated`), but Django
reads CONTENT_LENGTH bytes of the input, none here, so a valid body arrived empty ("Request
body is empty"). This WSGI wrapper reads the de-chunked body, never more than one byte past
DATA_UPLOAD_MAX_MEMORY_SIZE, and hands Django a sized one: over the limit, the length says
so and Django's own check answers the usual 413 without the rest being read.
"""

import io
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class ChunkedRequestBody:
    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]):
        if (
            environ.get("wsgi.input_terminated")
            and not environ.get("CONTENT_LENGTH")
            and "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        ):
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            body = environ["wsgi.input"].read(limit + 1 if limit is not None else -1)
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
        return self.app(environ, start_response)
