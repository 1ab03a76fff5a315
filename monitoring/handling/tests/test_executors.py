"""
Handler types, as sensu/lib/sensu/server/handle.rb runs them (pipe_handler, tcp_handler,
udp_handler, transport_handler), and the http webhook beyond Sensu 1.x; mutators as
sensu/lib/sensu/server/mutate.rb mutate_event and pipe_mutator.
"""

import json
import os
import socket
import threading
import time
from pathlib import Path

import pytest

from monitoring import bus
from monitoring.handling.executors import handler_execute, http_backoff_seconds
from monitoring.handling.mutators import MutationFailed, MutatorBook, event_mutate
from monitoring.handling.tests.helpers import event_doc
from monitoring.models import Handler, Mutator


def pipe(command: str, **fields) -> Handler:
    return Handler(name="pipe", type="pipe", command=command, **fields)


def test_pipe_handler_gets_the_data_on_stdin(tmp_path):
    out = tmp_path / "got.json"
    execution = handler_execute(pipe(f"tee {out}"), b'{"id": "x"}')
    assert execution.ok and execution.exit_status == 0
    assert out.read_bytes() == b'{"id": "x"}'
    assert execution.output == '{"id": "x"}'


def test_pipe_handler_runs_without_a_shell_unless_asked(tmp_path):
    execution = handler_execute(pipe("echo one; echo two"), b"")
    assert execution.output == "one; echo two\n"
    execution = handler_execute(pipe("echo one; echo two", shell=True), b"")
    assert execution.output == "one\ntwo\n"


def test_pipe_handler_failure_keeps_output_and_exit_status():
    execution = handler_execute(pipe("echo broken; exit 3", shell=True), b"")
    assert not execution.ok
    assert execution.exit_status == 3
    assert execution.output == "broken\n"
    assert execution.reason == "exit status 3"


def test_pipe_handler_that_does_not_exist_fails_cleanly():
    execution = handler_execute(pipe("/nonexistent/notify --now"), b"{}")
    assert not execution.ok and execution.exit_status == 127
    assert "/nonexistent/notify" in execution.reason


def test_pipe_handler_environment_holds_no_secret(monkeypatch):
    monkeypatch.setenv("DJANGO_SECRET_KEY", "very-secret-key")
    monkeypatch.setenv("DATABASE_URL", "postgres://user:password@db/site")
    execution = handler_execute(pipe("env"), b"")
    names = {line.split("=", 1)[0] for line in execution.output.splitlines()}
    assert names == {"PATH", "HOME", "LANG"}
    assert "very-secret-key" not in execution.output
    assert "password" not in execution.output


def _dead(pid: int) -> bool:
    """Gone, or a zombie waiting for init to reap it: either way no longer running."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")


def test_pipe_handler_timeout_kills_it_and_its_children(tmp_path):
    pidfile = tmp_path / "child.pid"
    handler = pipe(f"sleep 300 & echo $! > {pidfile}; echo started; wait", shell=True, timeout=1)
    execution = handler_execute(handler, b"")
    assert execution.timed_out and not execution.ok
    assert "timed out after 1 s" in execution.reason
    assert execution.output == "started\n"
    child = int(pidfile.read_text())
    # SIGKILL went to the whole group; let the kernel finish delivering it (no timing is
    # asserted: the loop ends as soon as the child is gone, the bound only stops a hang).
    for _ in range(200):
        if _dead(child):
            break
        time.sleep(0.05)
    assert _dead(child)


def test_pipe_handler_output_is_bounded(settings):
    settings.MONITORING_HANDLER_OUTPUT_MAX_CHARS = 100
    execution = handler_execute(pipe("yes hello", shell=True, timeout=2), b"")
    # `yes` never stops: it is killed at the timeout, and only 100 characters are kept.
    assert execution.timed_out
    assert len(execution.output) == 100


def test_pipe_handler_not_reading_its_input_is_fine():
    execution = handler_execute(pipe("true"), b"x" * 1_000_000)
    assert execution.ok


def test_tcp_handler_sends_the_data_to_a_real_socket():
    server = socket.create_server(("127.0.0.1", 0))
    received = bytearray()

    def accept():
        connection, _ = server.accept()
        with connection:
            while chunk := connection.recv(65536):
                received.extend(chunk)

    thread = threading.Thread(target=accept)
    thread.start()
    handler = Handler(
        name="tcp", type="tcp", socket_host="127.0.0.1", socket_port=server.getsockname()[1]
    )
    execution = handler_execute(handler, b'{"check": "disk"}')
    thread.join(10)
    server.close()
    assert execution.ok
    assert bytes(received) == b'{"check": "disk"}'


def test_tcp_handler_refused_connection_fails():
    probe = socket.create_server(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    execution = handler_execute(
        Handler(name="tcp", type="tcp", socket_host="127.0.0.1", socket_port=port), b"x"
    )
    assert not execution.ok and f"127.0.0.1:{port}" in execution.reason


def test_tcp_handler_with_empty_data_does_not_connect():
    # handle.rb tcp_handler: "not connecting to tcp socket due to empty event data"
    handler = Handler(name="tcp", type="tcp", socket_host="127.0.0.1", socket_port=9)
    assert handler_execute(handler, b"").ok


def test_udp_handler_sends_one_datagram():
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(10)
    handler = Handler(
        name="udp", type="udp", socket_host="127.0.0.1", socket_port=receiver.getsockname()[1]
    )
    execution = handler_execute(handler, b'{"check": "load"}')
    data, _ = receiver.recvfrom(65536)
    receiver.close()
    assert execution.ok
    assert data == b'{"check": "load"}'


def test_transport_handler_without_a_transport_fails_naming_the_setting(settings):
    settings.SENSU_TRANSPORT_URL = ""
    handler = Handler(name="t", type="transport", pipe={"type": "direct", "name": "events"})
    execution = handler_execute(handler, b"{}")
    assert not execution.ok
    assert "SENSU_TRANSPORT_URL" in execution.reason


def test_transport_handler_publishes_to_its_pipe(settings):
    settings.SENSU_TRANSPORT_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"
    published = []
    bus.publisher_set(lambda *message: published.append(message))
    try:
        handler = Handler(
            name="t",
            type="transport",
            pipe={"type": "topic", "name": "events", "options": {"routing_key": "disk"}},
        )
        execution = handler_execute(handler, b'{"id": 1}')
    finally:
        bus.publisher_set(None)
    assert execution.ok
    assert published == [("topic", "events", b'{"id": 1}', {"routing_key": "disk"})]


def test_http_handler_posts_with_its_headers(webhook_receiver):
    handler = Handler(
        name="hook",
        type="http",
        http_url=webhook_receiver.url,
        http_headers={"Authorization": "Bearer abc"},
    )
    execution = handler_execute(handler, b'{"id": "e1"}')
    assert execution.ok and execution.exit_status == 200
    request = webhook_receiver.requests[0]
    assert request["body"] == b'{"id": "e1"}'
    assert request["headers"]["Authorization"] == "Bearer abc"
    assert request["headers"]["Content-Type"] == "application/json"
    assert json.loads(execution.output) == {"received": 1}


@pytest.mark.parametrize(
    ("status", "retryable"), [(500, True), (503, True), (429, True), (404, False)]
)
def test_http_handler_failures_say_whether_to_retry(webhook_receiver, status, retryable):
    webhook_receiver.statuses = [status]
    handler = Handler(name="hook", type="http", http_url=webhook_receiver.url)
    execution = handler_execute(handler, b"{}")
    assert not execution.ok
    assert execution.exit_status == status
    assert execution.retryable is retryable


def test_http_failures_never_show_the_urls_path_or_query():
    probe = socket.create_server(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    url = f"http://127.0.0.1:{port}/services/T000/B000/s3cr3tPath?token=s3cr3tQuery"
    execution = handler_execute(Handler(name="hook", type="http", http_url=url), b"{}")
    assert not execution.ok and execution.retryable
    assert execution.reason.startswith(f"POST http://127.0.0.1:{port}/… failed")
    assert "s3cr3t" not in execution.reason


def test_http_backoff_is_exponential_and_capped():
    assert [http_backoff_seconds(n) for n in (1, 2, 3, 4)] == [1, 2, 4, 8]
    assert http_backoff_seconds(30) == 300


# --- mutate.rb ----------------------------------------------------------------------------------


def test_default_mutator_is_json():
    event = event_doc()
    assert json.loads(event_mutate("", event, MutatorBook({}))) == event


def test_json_is_one_line_per_event_so_appended_events_stay_apart(tmp_path):
    # Sensu::JSON.dump ended without a newline: two events appended to a file ran together.
    data = event_mutate("json", event_doc(), MutatorBook({}))
    assert data.endswith(b"\n") and data.count(b"\n") == 1
    handler = Handler(name="log", type="pipe", command=f"tee -a {tmp_path / 'events.log'}")
    for _ in range(2):
        handler_execute(handler, data)
    lines = (tmp_path / "events.log").read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == [event_doc()["id"]] * 2


def test_only_check_output_mutator():
    assert event_mutate("only_check_output", event_doc(), MutatorBook({})) == b"DISK CRITICAL"


def test_pipe_mutator_output_is_the_handlers_data():
    mutator = Mutator(
        name="status",
        command='python3 -c \'import json,sys; print(json.load(sys.stdin)["check"]["status"])\'',
    )
    assert event_mutate("status", event_doc(status=2), MutatorBook({"status": mutator})) == b"2\n"


def test_failing_mutator_stops_the_handler():
    # mutate.rb mutator_callback: a non-zero status logs "mutator error" and handles nothing.
    mutator = Mutator(name="broken", command="echo nope; exit 2", shell=True)
    with pytest.raises(MutationFailed) as failed:
        event_mutate("broken", event_doc(), MutatorBook({"broken": mutator}))
    assert failed.value.exit_status == 2
    assert failed.value.output == "nope\n"


def test_unknown_mutator_stops_the_handler():
    with pytest.raises(MutationFailed, match="unknown mutator missing"):
        event_mutate("missing", event_doc(), MutatorBook({}))


def test_pipe_mutator_timeout(tmp_path):
    mutator = Mutator(name="slow", command="sleep 300", timeout=1)
    with pytest.raises(MutationFailed, match="timed out"):
        event_mutate("slow", event_doc(), MutatorBook({"slow": mutator}))


def test_the_site_environment_is_not_the_handlers(monkeypatch):
    # The clean environment is built per run: a variable set after the site started is not
    # passed on either.
    monkeypatch.setenv("MONITORING_TEST_LEAK", "1")
    assert "MONITORING_TEST_LEAK" not in handler_execute(pipe("env"), b"").output
    assert os.environ["MONITORING_TEST_LEAK"] == "1"
