"""A real provisioner for the tests: an HTTP server on loopback that records every request."""

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@dataclass
class RecordedRequest:
    method: str
    path: str
    body: dict | None


@dataclass
class FakeProvisioner:
    url: str
    requests: list[RecordedRequest] = field(default_factory=list)
    # path prefix -> status to answer instead of success; "*" matches everything.
    failures: dict[str, int] = field(default_factory=dict)
    ping_status: int = 204
    # Called with each request's path before it is answered, on the server's thread.
    on_request: Callable[[str], None] | None = None

    def calls(self, *, include_ping: bool = False) -> list[tuple[str, str]]:
        return [(r.method, r.path) for r in self.requests if include_ping or r.path != "/v1/ping"]

    def bodies(self, path: str) -> list[dict]:
        return [r.body for r in self.requests if r.path == path]

    def clear(self) -> None:
        self.requests.clear()


def _handler(provisioner: FakeProvisioner):
    class Handler(BaseHTTPRequestHandler):
        def _answer(self):
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            provisioner.requests.append(RecordedRequest(self.command, self.path, body))
            if provisioner.on_request is not None:
                provisioner.on_request(self.path)
            if self.path == "/v1/ping":
                status = provisioner.ping_status
            else:
                status = next(
                    (
                        code
                        for prefix, code in provisioner.failures.items()
                        if prefix == "*" or self.path.startswith(prefix)
                    ),
                    201 if self.path == "/v1/user/create" else 204,
                )
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_POST = do_DELETE = _answer

        def log_message(self, *args):
            pass

    return Handler


@pytest.fixture
def provisioner():
    provisioner = FakeProvisioner(url="")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(provisioner))
    provisioner.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield provisioner
    server.shutdown()
    server.server_close()
