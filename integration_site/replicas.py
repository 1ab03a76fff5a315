"""
Reads from streaming replicas (settings: DATABASE_REPLICA_URL; docs/scaling.md).

Only reads that may be a little stale go to a replica, and only where a view or a job says
so: `ReplicaReadsMixin` on an API view (after its authentication, which stays on the
primary), `replica_reads_view` on an admin view, `replica_reads()` around a job's reads.
Everything else reads the primary, and so does, even inside those:

- every write, and every read inside a transaction on the primary (it must see its writes);
- `PRIMARY_ONLY_APPS`: users, groups, permissions and sessions (sign-in, who may do what);
- a browser that posted something in the last `pin_seconds()`: `ReplicaReadsMiddleware`
  sets a cookie on the answer to any POST/PUT/PATCH/DELETE that carried cookies, and the
  requests it comes back with read the primary, so the admin shows what was just saved.

A replica is used while its last health check, made every DATABASE_REPLICA_CHECK_SECONDS by
a thread of each process (`replica_health_watch`), found it answering and at most
DATABASE_REPLICA_MAX_LAG_SECONDS behind; a request never waits for a check. Replicas in use
are taken in turn, one per request (or job), so a page's count and rows come from one.

A replica that goes away mid-request costs no error page: its backend
(`integration_site.db_replica`) reports the lost connection here (`replica_error_seen`), the
replica is out of use at once, and the middleware answers the request again from the primary
when that is safe (a GET or HEAD, or a POST of a view that only reads before it writes).
The same holds for a read the replica cancelled to replay the primary's changes.
"""

import itertools
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import wraps

import psycopg
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import DEFAULT_DB_ALIAS, connections
from django.http import HttpRequest, HttpResponse
from psycopg.errors import TransactionRollback

from integration_site.errors import database_unavailable

logger = logging.getLogger(__name__)

REPLICA_ENGINE = "integration_site.db_replica"
# Who may sign in and do what is read where it was last written.
PRIMARY_ONLY_APPS = frozenset({"auth", "sessions"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# The cookie that keeps a browser on the primary after it wrote: the time (Unix seconds) until
# which it does. Forging one only makes a client's own reads fresher.
PIN_COOKIE = "primary_reads_until"

# The lag of a streaming replica: 0 while it has replayed all it received (an idle primary
# sends nothing, and the time since the last replayed transaction would look like growing
# lag), else the age of the last transaction it replayed. NULL on a server that is not a
# replica, or that has received nothing yet: not usable.
LAG_QUERY = (
    "SELECT CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0"
    " ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp()) END"
)
# The check's own statement limit: it is cheap, so a replica that takes longer is not well.
CHECK_STATEMENT_TIMEOUT_MS = 1000


def replica_aliases() -> list[str]:
    return [
        alias
        for alias, database in settings.DATABASES.items()
        if database.get("ENGINE") == REPLICA_ENGINE
    ]


def pin_seconds() -> int:
    """How long a browser reads the primary after a write: a replica in use was at most the
    lag limit behind at its last check, and the next check is at most an interval away."""
    return settings.DATABASE_REPLICA_MAX_LAG_SECONDS + settings.DATABASE_REPLICA_CHECK_SECONDS


# --- What the current request or job may read from a replica -----------------------------


@dataclass
class ReplicaReads:
    """The replica use of one request (set by the middleware) or one job."""

    allowed: bool = False
    # Pinned to the primary (a browser that just wrote), or answering again after a failure.
    primary_only: bool = False
    picked: bool = False
    alias: str | None = None
    # A replica failed (went away, or cancelled a read) while serving this request or job.
    failed: bool = False
    # A POST that may be answered again: its view only reads before it writes, and its body
    # was read up front so the view can read it twice.
    retryable: bool = False


_current: ContextVar[ReplicaReads | None] = ContextVar("replica_reads", default=None)


def replica_reads_current() -> ReplicaReads | None:
    """The replica use of the current request or job (None outside both)."""
    return _current.get()


def replica_reads_allow() -> None:
    """From here to the end of the current request, reads may go to a replica."""
    reads = _current.get()
    if reads is not None:
        reads.allowed = True


@contextmanager
def _reads_in_use(reads: ReplicaReads) -> Iterator[ReplicaReads]:
    """`reads` is the replica use of everything inside (a request's, a job's)."""
    token = _current.set(reads)
    try:
        yield reads
    finally:
        _current.reset(token)


@contextmanager
def replica_reads() -> Iterator[ReplicaReads]:
    """Reads inside may go to a replica: within a request, for the block; outside one (a
    job), as a unit of its own, whose `failed` says whether to redo it on the primary."""
    reads = _current.get()
    if reads is None:
        with _reads_in_use(ReplicaReads(allowed=True)) as reads:
            yield reads
        return
    was_allowed = reads.allowed
    reads.allowed = True
    try:
        yield reads
    finally:
        reads.allowed = was_allowed


@contextmanager
def primary_reads() -> Iterator[ReplicaReads]:
    """Every read inside goes to the primary (a job redone after its replica failed)."""
    with _reads_in_use(ReplicaReads(primary_only=True)) as reads:
        yield reads


class ReplicaReadsMixin:
    """
    For a DRF view whose reads may be a little stale (searches): after authentication and
    permissions (read on the primary), the rest of a request with one of
    `replica_read_methods` may read a replica. A view that lists POST (GraphQL, where a POST
    is a query) must do its reads before any write, since a replica failure answers it again.
    """

    replica_read_methods: tuple[str, ...] = ("GET", "HEAD")

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if request.method in self.replica_read_methods:
            replica_reads_allow()


def replica_reads_view(view: Callable) -> Callable:
    """For an admin view (`admin_view` checked the user first): its GET may read a replica,
    template rendering included."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        request = next(arg for arg in args if isinstance(arg, HttpRequest))
        if request.method in ("GET", "HEAD"):
            replica_reads_allow()
        return view(*args, **kwargs)

    return wrapped


# --- Which replica: health ------------------------------------------------------------------


@dataclass(frozen=True)
class ReplicaStatus:
    usable: bool
    lag_seconds: float | None
    problem: str


_NOT_CHECKED = ReplicaStatus(usable=False, lag_seconds=None, problem="not checked yet")
_status: dict[str, ReplicaStatus] = {}
_status_lock = threading.Lock()
_turn = itertools.count()
_watcher_pid: int | None = None


def replica_status(alias: str) -> ReplicaStatus:
    return _status.get(alias, _NOT_CHECKED)


def _status_set(alias: str, status: ReplicaStatus) -> None:
    with _status_lock:
        previous = _status.get(alias)
        _status[alias] = status
    if previous is not None and previous.usable == status.usable:
        return
    if status.usable:
        logger.info("Read replica %s in use (lag %.1f s).", alias, status.lag_seconds or 0)
    else:
        logger.warning("Read replica %s out of use: %s", alias, status.problem)


def replica_mark_down(alias: str, problem: str) -> None:
    """Out of use until its next health check says otherwise."""
    _status_set(alias, ReplicaStatus(usable=False, lag_seconds=None, problem=problem))


def replica_check(params: dict) -> ReplicaStatus:
    """Connect with a replica's connection parameters (within its connect_timeout) and read
    its lag (within CHECK_STATEMENT_TIMEOUT_MS): usable when it answers and is within the lag
    limit."""
    params = {key: value for key, value in params.items() if key != "cursor_factory"}
    params["options"] = " ".join(
        [params.get("options", ""), f"-c statement_timeout={CHECK_STATEMENT_TIMEOUT_MS}"]
    ).strip()
    try:
        with psycopg.connect(**params, autocommit=True) as conn:
            lag = conn.execute(LAG_QUERY).fetchone()[0]
    except psycopg.Error as exc:
        return ReplicaStatus(usable=False, lag_seconds=None, problem=f"check failed: {exc}")
    if lag is None:
        return ReplicaStatus(
            usable=False, lag_seconds=None, problem="not a streaming replica, or received nothing"
        )
    lag = float(lag)
    limit = settings.DATABASE_REPLICA_MAX_LAG_SECONDS
    if lag > limit:
        return ReplicaStatus(
            usable=False,
            lag_seconds=lag,
            problem=f"{lag:.1f} s behind the primary (DATABASE_REPLICA_MAX_LAG_SECONDS={limit})",
        )
    return ReplicaStatus(usable=True, lag_seconds=lag, problem="")


def replica_health_watch() -> None:
    """Start this process's health-check thread, once per process (gunicorn forks its
    workers after import, and threads do not survive a fork)."""
    global _watcher_pid
    if _watcher_pid == os.getpid():
        return
    with _status_lock:
        if _watcher_pid == os.getpid():
            return
        _watcher_pid = os.getpid()
        _status.clear()
    threading.Thread(target=_watch, name="replica-health", daemon=True).start()


def _watch() -> None:
    while True:
        for alias in replica_aliases():
            try:
                _status_set(alias, replica_check(connections[alias].get_connection_params()))
            except Exception as exc:  # a bug must not end the checks: out of use, and logged
                logger.exception("Health check of read replica %s failed", alias)
                replica_mark_down(alias, f"check failed: {exc}")
        time.sleep(settings.DATABASE_REPLICA_CHECK_SECONDS)


def replica_pick() -> str | None:
    """The next replica in use, in turn; None when none is (read the primary)."""
    replica_health_watch()
    usable = [alias for alias in replica_aliases() if replica_status(alias).usable]
    if not usable:
        return None
    return usable[next(_turn) % len(usable)]


def replica_error_seen(alias: str, error: BaseException) -> None:
    """Called by the replica backend with each database error it raises. A lost connection
    takes the replica out of use; that or a read cancelled by recovery (PostgreSQL cancels
    a standby's query that holds back replay) has the work answered again from the primary."""
    lost = database_unavailable(error)
    if not lost and not isinstance(error.__cause__, TransactionRollback):
        return
    if lost:
        replica_mark_down(alias, f"connection lost: {error}")
    reads = _current.get()
    if reads is not None:
        reads.failed = True


# --- The router ------------------------------------------------------------------------------


class ReplicaRouter:
    """settings.DATABASE_ROUTERS: reads allowed to (module docstring) go to a replica in use;
    everything else to the primary. Without replicas it decides nothing."""

    def db_for_read(self, model, **hints) -> str | None:
        reads = _current.get()
        if reads is None or not reads.allowed or reads.primary_only:
            return None
        if model._meta.app_label in PRIMARY_ONLY_APPS:
            return None
        # Inside a transaction on the primary, a read must see what it wrote.
        if connections[DEFAULT_DB_ALIAS].in_atomic_block:
            return None
        if not reads.picked:
            reads.alias, reads.picked = replica_pick(), True
        return reads.alias

    def db_for_write(self, model, **hints) -> str | None:
        return None

    def allow_relation(self, obj1, obj2, **hints) -> bool | None:
        # A replica holds the primary's rows: an object read there may be linked to one
        # written on the primary.
        databases = {obj1._state.db, obj2._state.db}
        if databases <= {DEFAULT_DB_ALIAS, *replica_aliases()}:
            return True
        return None

    def allow_migrate(self, db, app_label, model_name=None, **hints) -> bool | None:
        # A replica replays the primary's migrations; it cannot run its own.
        return False if db in replica_aliases() else None


# --- The middleware ---------------------------------------------------------------------------


class ReplicaReadsMiddleware:
    """
    Gives each request its `ReplicaReads`; answers a request again from the primary when a
    replica failed during it and that is safe; keeps a browser that wrote on the primary for
    `pin_seconds()`. Without replicas it does nothing.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not replica_aliases():
            return self.get_response(request)
        reads = ReplicaReads(primary_only=_pinned(request))
        response = self._respond(request, reads)
        if reads.failed and (request.method in SAFE_METHODS or reads.retryable):
            response = self._respond(request, ReplicaReads(primary_only=True))
        if request.method not in SAFE_METHODS and (request.COOKIES or response.cookies):
            seconds = pin_seconds()
            response.set_cookie(
                PIN_COOKIE,
                str(int(time.time()) + seconds),
                max_age=seconds,
                secure=settings.SESSION_COOKIE_SECURE,
                httponly=True,
                samesite="Lax",
            )
        return response

    def _respond(self, request: HttpRequest, reads: ReplicaReads) -> HttpResponse:
        with _reads_in_use(reads):
            return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs) -> None:
        """A POST to a view that reads replicas on POST is read whole first, so that a
        second answer (after a replica failure) can read the body again."""
        reads = _current.get()
        view_class = getattr(view_func, "cls", None)
        if (
            reads is None
            or request.method in SAFE_METHODS
            or request.method not in getattr(view_class, "replica_read_methods", ())
        ):
            return None
        try:
            request.body  # noqa: B018 (read for its side effect: Django keeps the body)
        except RequestDataTooBig:
            return None  # the view answers its 413 itself
        reads.retryable = True
        return None


def _pinned(request: HttpRequest) -> bool:
    raw = request.COOKIES.get(PIN_COOKIE, "")
    return raw.isascii() and raw.isdigit() and len(raw) <= 12 and time.time() < int(raw)
