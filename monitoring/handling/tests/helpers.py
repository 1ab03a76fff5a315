"""Events as the engine hands them to handlers, and a real webhook receiver on loopback."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


def event_doc(
    *,
    status: int = 2,
    action: str = "create",
    occurrences: int = 1,
    watermark: int | None = None,
    history: list[str] | None = None,
    silenced: bool = False,
    client: str = "i-424242",
    check_attributes: dict[str, Any] | None = None,
    **check: Any,
) -> dict[str, Any]:
    """An event document shaped as engine.event_document builds it."""
    check.update(check_attributes or {})
    return {
        "id": "3a5c8f0e-5a7e-4a57-9d0a-1b2c3d4e5f60",
        "client": {"name": client, "address": "127.0.0.1", "subscriptions": ["web"]},
        "check": {
            "name": check.pop("name", "disk"),
            "status": status,
            "output": "DISK CRITICAL",
            "history": history if history is not None else [str(status)],
            **check,
        },
        "occurrences": occurrences,
        "occurrences_watermark": watermark if watermark is not None else occurrences,
        "action": action,
        "timestamp": 1_700_000_000,
        "silenced": silenced,
        "silenced_by": [],
    }


def open_event(*, client: str, check: str, status: int = 2) -> None:
    """An open event for `client`/`check`, made by the engine (the client created as a proxy)."""
    from monitoring.engine import result_process

    result_process(client_name=client, check={"name": check, "status": status, "output": "x"})


class WebhookReceiver:
    """A real HTTP server on 127.0.0.1 answering with the statuses queued, then 200."""

    def __init__(self) -> None:
        self.statuses: list[int] = []
        self.requests: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                receiver.requests.append({"headers": dict(self.headers), "body": body})
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                answer = json.dumps({"received": len(receiver.requests)}).encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "WebhookReceiver":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook_receiver():
    with WebhookReceiver() as receiver:
        yield receiver
