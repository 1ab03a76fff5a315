"""
Handler types, as lib/sensu/server/handle.rb runs them: `pipe` (a command reading the data on
stdin), `tcp`, `udp`, `transport` (a pipe on the transport), and `http` (a webhook POST, beyond
Sensu 1.x). Each returns an Execution; none raises for a handler's own failure.

A command runs without a shell unless the definition asks for one, in a clean environment
(PATH, HOME and LANG only: the site's secrets, DJANGO_SECRET_KEY, DATABASE_URL..., never reach
it), in a process group of its own that is killed whole when the timeout passes, and what it
prints is kept up to MONITORING_HANDLER_OUTPUT_MAX_CHARS.
"""

import contextlib
import os
import select
import shlex
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from monitoring.bus import TransportUnavailable, transport_publish
from monitoring.models import Handler, HandlerType

# handle.rb `tcp_handler`: `handler[:timeout] || 10`.
SOCKET_TIMEOUT_SECONDS = 10
HTTP_BACKOFF_MAX_SECONDS = 300
READ_CHUNK = 65536


@dataclass
class Execution:
    ok: bool
    output: str = ""
    exit_status: int | None = None
    reason: str = ""
    timed_out: bool = False
    # http only: the failure is worth another attempt (5xx, 429, no connection).
    retryable: bool = False


def clean_environment() -> dict[str, str]:
    """What a handler's or mutator's process sees: a PATH, a HOME and a LANG, nothing else."""
    return {
        "PATH": os.environ.get("PATH") or os.defpath,
        "HOME": os.environ.get("HOME") or "/",
        "LANG": "C.UTF-8",
    }


def process_run(
    *, command: str, shell: bool, data: bytes, timeout: float, limit: int | None = None
) -> Execution:
    """
    Spawn `command` with `data` on stdin (Sensu's Spawn.process), wait at most `timeout`
    seconds, and kill its whole process group if it outlives that: children it started die
    with it. Output (stdout and stderr) is read as it comes, so a chatty process never blocks,
    and kept up to MONITORING_HANDLER_OUTPUT_MAX_CHARS.
    """
    limit = limit or settings.MONITORING_HANDLER_OUTPUT_MAX_CHARS
    try:
        args = ["/bin/sh", "-c", command] if shell else shlex.split(command)
    except ValueError as error:
        return Execution(ok=False, reason=f"command cannot be split into arguments: {error}")
    if not args:
        return Execution(ok=False, reason="the command is empty")
    try:
        process = subprocess.Popen(
            args,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=clean_environment(),
            start_new_session=True,
            close_fds=True,
        )
    except OSError as error:
        return Execution(ok=False, exit_status=127, reason=f"cannot run {args[0]!r}: {error}")
    writer = threading.Thread(target=_stdin_write, args=(process, data), daemon=True)
    writer.start()
    deadline = time.monotonic() + timeout
    kept = bytearray()
    timed_out = False
    stdout = process.stdout
    assert stdout is not None
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            timed_out = True
            break
        ready, _, _ = select.select([stdout], [], [], min(remaining, 1.0))
        if not ready:
            continue
        chunk = os.read(stdout.fileno(), READ_CHUNK)
        if not chunk:
            break  # EOF: every process holding the pipe has closed it.
        if len(kept) < limit * 4:  # Characters are at most 4 bytes: enough to cut at `limit`.
            kept.extend(chunk[: limit * 4 - len(kept)])
    if not timed_out:
        try:
            process.wait(max(deadline - time.monotonic(), 0.001))
        except subprocess.TimeoutExpired:
            timed_out = True
    if timed_out:
        _group_kill(process)
    stdout.close()
    writer.join(1.0)
    output = kept.decode("utf-8", errors="replace")[:limit]
    if timed_out:
        return Execution(
            ok=False,
            output=output,
            exit_status=process.returncode,
            timed_out=True,
            reason=f"timed out after {timeout:g} s; its process group was killed",
        )
    status = process.returncode
    return Execution(
        ok=status == 0,
        output=output,
        exit_status=status,
        reason="" if status == 0 else f"exit status {status}",
    )


def _stdin_write(process: subprocess.Popen, data: bytes) -> None:
    stdin = process.stdin
    assert stdin is not None
    try:
        stdin.write(data)
    except (BrokenPipeError, OSError):
        pass  # The command does not read its input: Sensu ignored that too.
    finally:
        with contextlib.suppress(OSError):
            stdin.close()


def _group_kill(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def handler_timeout(handler: Handler) -> int:
    return handler.timeout or settings.MONITORING_HANDLER_TIMEOUT_SECONDS


def pipe_execute(handler: Handler, data: bytes) -> Execution:
    """handle.rb `pipe_handler`."""
    return process_run(
        command=handler.command, shell=handler.shell, data=data, timeout=handler_timeout(handler)
    )


def tcp_execute(handler: Handler, data: bytes) -> Execution:
    """handle.rb `tcp_handler`: connect, send, close; empty data is not sent."""
    if not data:
        return Execution(ok=True, reason="empty event data: not connecting")
    timeout = handler.timeout or SOCKET_TIMEOUT_SECONDS
    try:
        with socket.create_connection(
            (handler.socket_host, handler.socket_port), timeout=timeout
        ) as connection:
            connection.sendall(data)
            connection.shutdown(socket.SHUT_WR)
    except OSError as error:
        return Execution(
            ok=False, reason=f"tcp {handler.socket_host}:{handler.socket_port}: {error}"
        )
    return Execution(ok=True)


def udp_execute(handler: Handler, data: bytes) -> Execution:
    """handle.rb `udp_handler`: one datagram."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            handler.socket_host, handler.socket_port, type=socket.SOCK_DGRAM
        )[0]
        with socket.socket(family, kind, proto) as sender:
            sender.sendto(data, address)
    except OSError as error:
        return Execution(
            ok=False, reason=f"udp {handler.socket_host}:{handler.socket_port}: {error}"
        )
    return Execution(ok=True)


def transport_execute(handler: Handler, data: bytes) -> Execution:
    """handle.rb `transport_handler`: publish to `pipe`; empty data is not published."""
    if not data:
        return Execution(ok=True, reason="empty event data: not published")
    pipe = handler.pipe or {}
    options = pipe.get("options") if isinstance(pipe.get("options"), dict) else {}
    try:
        transport_publish(str(pipe.get("type", "direct")), str(pipe.get("name", "")), data, options)
    except TransportUnavailable as error:
        return Execution(ok=False, reason=str(error))
    return Execution(ok=True)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # A redirected POST would become a GET without the event: report it instead.
    def redirect_request(self, *args, **kwargs):
        return None


_http_opener = urllib.request.build_opener(_NoRedirects)


def url_shown(url: str) -> str:
    """
    A webhook URL as logs, runs and the audit trail show it: scheme and host only. Webhook
    URLs often carry their credential in the path or query (Slack's do).
    """
    parts = urllib.parse.urlsplit(url)
    if not parts.scheme or not parts.hostname:
        return "(unreadable URL)"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}/…"


def http_execute(handler: Handler, data: bytes) -> Execution:
    """
    Beyond Sensu 1.x: POST the data to `http_url` with the handler's headers. A 2xx answer
    succeeds; 5xx, 429, 408 and a failed connection may be retried (the dispatcher schedules
    the attempt); any other answer fails for good.
    """
    limit = settings.MONITORING_HANDLER_OUTPUT_MAX_CHARS
    headers = {"Content-Type": "application/json", "User-Agent": "integration-site-sensu"}
    headers.update({str(k): str(v) for k, v in (handler.http_headers or {}).items()})
    request = urllib.request.Request(handler.http_url, data=data, headers=headers, method="POST")
    try:
        with _http_opener.open(request, timeout=handler_timeout(handler)) as response:
            body = response.read(limit * 4).decode("utf-8", errors="replace")[:limit]
            return Execution(ok=True, output=body, exit_status=response.status)
    except urllib.error.HTTPError as error:
        body = error.read(limit * 4).decode("utf-8", errors="replace")[:limit]
        return Execution(
            ok=False,
            output=body,
            exit_status=error.code,
            reason=f"HTTP {error.code} from {url_shown(handler.http_url)}",
            retryable=error.code >= 500 or error.code in (408, 429),
        )
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = str(getattr(error, "reason", error)).replace(handler.http_url, "…")
        return Execution(
            ok=False, reason=f"POST {url_shown(handler.http_url)} failed: {reason}", retryable=True
        )


def http_backoff_seconds(attempt: int) -> int:
    """Exponential backoff before attempt `attempt + 1`: 1, 2, 4 ... s, capped at 5 minutes."""
    return min(2 ** max(attempt - 1, 0), HTTP_BACKOFF_MAX_SECONDS)


EXECUTORS = {
    HandlerType.PIPE: pipe_execute,
    HandlerType.TCP: tcp_execute,
    HandlerType.UDP: udp_execute,
    HandlerType.TRANSPORT: transport_execute,
    HandlerType.HTTP: http_execute,
}


def handler_execute(handler: Handler, data: bytes) -> Execution:
    """handle.rb `handler_type_router`. Sets never get here: the engine expanded them."""
    executor = EXECUTORS.get(handler.type)
    if executor is None:
        return Execution(ok=False, reason=f"handler type {handler.type!r} cannot run an event")
    return executor(handler, data)


def output_bounded(text: Any) -> str:
    return str(text)[: settings.MONITORING_HANDLER_OUTPUT_MAX_CHARS]
