"""
The attacks of issue 14 and the probe that watches a site while they run, over real sockets.
Used by the load and abuse tests (tests/hostile/) and by bench/hostile_load.py, which times
the probe under each attack against an idle baseline.
"""

import base64
import http.client
import socket
import ssl
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable

import requests

# The many-wildcard search: a backtracking regex would take minutes per long value.
REDOS_SEARCH = "*e*e*e*e*e*e*e*x"


def plain_connector(port: int) -> Callable[[], socket.socket]:
    return lambda: socket.create_connection(("127.0.0.1", port), timeout=5)


def tls_connector(port: int) -> Callable[[], socket.socket]:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the test proxy's certificate is self-signed
    return lambda: context.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=5))


class SlowHeaders:
    """
    Slowloris: connections that each start a request, then send one header byte every `every`
    seconds, never finishing the headers, until closed. Counts those the server closed.
    """

    def __init__(self, connect: Callable[[], socket.socket], count: int, every: float = 0.5):
        self.sockets = [connect() for _ in range(count)]
        for sock in self.sockets:
            sock.sendall(b"GET /admin/login/ HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
        self.closed_by_server = 0
        self._every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._drip, daemon=True)
        self._thread.start()

    def _drip(self) -> None:
        alive = list(self.sockets)
        while alive and not self._stop.wait(self._every):
            for sock in list(alive):
                try:
                    sock.sendall(b"x")
                except OSError:  # the server closed it (nginx's client_header_timeout)
                    alive.remove(sock)
                    self.closed_by_server += 1

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        for sock in self.sockets:
            sock.close()


class Flood:
    """
    `clients` threads sending `request(connection)` in a loop until closed; counts the
    statuses (0: the connection failed) and remembers every Retry-After seen.
    """

    def __init__(self, port: int, clients: int, method: str, path: str, headers: dict[str, str]):
        self.statuses: Counter[int] = Counter()
        self.retry_after: list[str] = []
        self._port, self._method, self._path, self._headers = port, method, path, headers
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(clients)]
        for thread in self._threads:
            thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            conn = http.client.HTTPConnection("127.0.0.1", self._port, timeout=120)
            try:
                conn.request(self._method, self._path, headers=self._headers)
                response = conn.getresponse()
                response.read()
                status, retry_after = response.status, response.getheader("Retry-After")
            except (OSError, http.client.HTTPException):
                status, retry_after = 0, None
            finally:
                conn.close()
            with self._lock:
                self.statuses[status] += 1
                if retry_after is not None:
                    self.retry_after.append(retry_after)

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()


def basic_header(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


class Probe:
    """
    A monitoring client: GET `url` every `every` seconds in a thread of its own, giving up on
    a request after `patience` seconds. `statuses` holds None for each request not answered.
    """

    def __init__(self, url: str, patience: float, every: float = 0.2, **request_options):
        self.statuses: list[int | None] = []
        self.latencies_ms: list[float] = []
        self._url, self._patience, self._every = url, patience, every
        self._options = request_options
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.perf_counter()
            try:
                response = requests.get(self._url, timeout=self._patience, **self._options)
            except requests.RequestException:  # gave up waiting, or the connection failed
                self.statuses.append(None)
            else:
                self.statuses.append(response.status_code)
                self.latencies_ms.append((time.perf_counter() - started) * 1000)
            self._stop.wait(self._every)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


def percentiles(latencies_ms: list[float]) -> tuple[float, float]:
    """(p50, p99) in milliseconds; nan when nothing was answered."""
    if not latencies_ms:
        return float("nan"), float("nan")
    ordered = sorted(latencies_ms)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def describe(latencies_ms: list[float]) -> str:
    p50, p99 = percentiles(latencies_ms)
    return f"p50 {p50:.1f} ms, p99 {p99:.1f} ms (n={len(latencies_ms)})"
