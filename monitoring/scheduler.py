"""
Sensu 1.x's check request publisher (lib/sensu/server/process.rb, `setup_check_request_publisher`
and what it calls; the API's lib/sensu/api/utilities/publish_check_request.rb for POST
/request). A check with `subscribers` and an `interval` is requested of the agents that
subscribe, on the transport, every `interval` seconds, at the split-second phase Sensu gives it.

Sensu ran one timer per check in its elected leader. Here a worker thread
(`check_scheduler_loop`, in registry["worker_threads"]) ticks every second under a run lease,
so one worker of many publishes, and a long task in the worker's queue never delays it; for each check
it publishes the newest fire time that has come and not been published yet. That fire time is
claimed with a conditional UPDATE of CheckSchedule before anything is published, so even two
ticks that raced past the lease cannot both publish it, and a worker that was down for hours
publishes once on its return, not a backlog.

Publishing goes through monitoring.bus (the RabbitMQ client is the wire layer's). Without a
transport nothing can reach an agent: the tick warns (rate-limited) and publishes nothing, and
POST /request answers 503 (monitoring.services.check_request).
"""

import hashlib
import json
import logging
import re
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import IntegrityError, close_old_connections, transaction
from django.utils import timezone

from integration_site.schedule import RunLease, exclusive_run_lease
from monitoring.bus import (
    NO_TRANSPORT_MESSAGE,
    TransportUnavailable,
    transport_configured,
    transport_publish,
)
from monitoring.handling.expressions import ruby_to_s
from monitoring.handling.filters import attributes_match, in_time_windows
from monitoring.models import CheckDefinition, CheckSchedule, Client, epoch_now

logger = logging.getLogger(__name__)

# The run lease's ScheduledJob row (a lease row only: no periodic task carries this name).
CHECK_SCHEDULER_JOB = "monitoring.scheduler"
# Without a transport the loop only warns, so it looks again this rarely.
NO_TRANSPORT_TICK_SECONDS = 60
# A tick publishes at most a few messages per check; a lease of a minute is renewed by any
# tick that runs long and lapses soon enough after a worker killed mid-tick.
CHECK_SCHEDULER_LEASE_SECONDS = 60
# Check definitions are read in pages of this size, and no more than SCHEDULED_CHECKS_MAX in
# one tick (a warning names the limit when more exist).
CHECK_PAGE_SIZE = 500
SCHEDULED_CHECKS_MAX = 10_000
# Clients are matched against proxy_requests in pages (Sensu inspected slices of 20).
CLIENT_PAGE_SIZE = 500
# How often (seconds) the "no transport" warning is logged while subscription checks exist.
NO_TRANSPORT_WARNING_EVERY_SECONDS = 300

TOKEN_PATTERN = re.compile(r":::([^:].*?):::")


class ScheduleState:
    """Why a check is (not) scheduled by the server: the admin and the system check show it."""

    SCHEDULED = "scheduled"
    STANDALONE = "standalone: the agent schedules it"
    NOT_PUBLISHED = "not scheduled: publish is false"
    NO_SUBSCRIBERS = "not scheduled: no subscribers"
    NO_INTERVAL = "not scheduled: no interval"
    CRON = "not scheduled: cron schedules are not supported"
    NO_TRANSPORT = "not scheduled: SENSU_TRANSPORT_URL is not set"


# --- What Sensu schedules --------------------------------------------------------------


def check_definition_document(definition: CheckDefinition) -> dict[str, Any]:
    """The check as Sensu's settings hold it, with its `name` (settings.checks adds it)."""
    return {**definition.as_sensu(), "name": definition.name}


def check_schedule_state(check: dict[str, Any]) -> str:
    """
    process.rb `setup_check_request_publisher`: standalone checks and `publish: false` are not
    scheduled by the server; a check without subscribers would publish nowhere.
    """
    if check.get("standalone"):
        return ScheduleState.STANDALONE
    if check.get("publish") is False:
        return ScheduleState.NOT_PUBLISHED
    if not check.get("subscribers") or not isinstance(check["subscribers"], list):
        return ScheduleState.NO_SUBSCRIBERS
    if check.get("cron"):
        return ScheduleState.CRON
    if not isinstance(check.get("interval"), int) or check["interval"] <= 0:
        return ScheduleState.NO_INTERVAL
    if not settings.SENSU_TRANSPORT_URL:
        return ScheduleState.NO_TRANSPORT
    return ScheduleState.SCHEDULED


def _scheduled_check_pages() -> Iterator[list[dict[str, Any]]]:
    """
    Every check the server schedules, in pages read by primary key (bounded reads), at most
    SCHEDULED_CHECKS_MAX of them.
    """
    seen = 0
    last_pk = 0
    while True:
        rows = list(
            CheckDefinition.objects.filter(standalone=False, pk__gt=last_pk).order_by("pk")[
                :CHECK_PAGE_SIZE
            ]
        )
        if not rows:
            return
        page = []
        for definition in rows:
            check = check_definition_document(definition)
            if check_schedule_state(check) not in (
                ScheduleState.SCHEDULED,
                ScheduleState.NO_TRANSPORT,
            ):
                continue
            if seen == SCHEDULED_CHECKS_MAX:
                logger.warning(
                    "More than %d scheduled checks: only the first %d (by id) are requested.",
                    SCHEDULED_CHECKS_MAX,
                    SCHEDULED_CHECKS_MAX,
                )
                if page:
                    yield page
                return
            seen += 1
            page.append(check)
        if page:
            yield page
        last_pk = rows[-1].pk


def scheduled_checks() -> Iterator[dict[str, Any]]:
    """Every check the server schedules (see _scheduled_check_pages)."""
    for page in _scheduled_check_pages():
        yield from page


# --- When: the splay --------------------------------------------------------------------


def check_request_splay_ms(name: str, interval: int, now_ms: int) -> int:
    """
    process.rb `calculate_check_request_splay`: milliseconds until the check's first request,
    `(MD5(name) as a little-endian unsigned 64-bit integer - now_ms) % (interval * 1000)`.
    The first 8 bytes of the digest are what Ruby's unpack('Q<') reads.
    """
    splay_hash = int.from_bytes(hashlib.md5(name.encode()).digest()[:8], "little")
    return (splay_hash - now_ms) % (interval * 1000)


def check_request_due_ms(name: str, interval: int, now_ms: int) -> int:
    """
    The newest fire time at or before `now_ms`. Sensu fires at start + splay and every
    interval after, so its fire times are exactly the instants t with
    t ≡ MD5-hash (mod interval*1000), whenever it started: the same phase as Sensu's.
    """
    interval_ms = interval * 1000
    return now_ms - (interval_ms - check_request_splay_ms(name, interval, now_ms)) % interval_ms


# --- Whether: subdue -------------------------------------------------------------------


def check_subdued(check: dict[str, Any], *, now: datetime | None = None) -> bool:
    """utilities.rb `check_subdued?`: Sensu 1.x's `subdue: {days: {...}}` windows."""
    if not check.get("subdue"):
        return False
    return in_time_windows(check["subdue"], now)


# --- Proxy requests: matching clients and token substitution -----------------------------


def _attribute_find(tree: Any, path: list[str], default: str | None) -> Any:
    """utilities.rb `find_attribute_value`: walk hashes along `path`; nil gives the default."""
    attribute = tree.get(path[0]) if isinstance(tree, dict) and path else None
    if isinstance(attribute, dict):
        return _attribute_find(attribute, path[1:], default)
    return default if attribute is None else attribute


def tokens_substitute(text: str, attributes: dict[str, Any]) -> tuple[str, list[str]]:
    """
    utilities.rb `substitute_tokens`: each `:::dot.path|default:::` becomes the attribute's
    value (or the default); a token with neither is unmatched and becomes "".
    """
    unmatched: list[str] = []

    def replace(match: re.Match[str]) -> str:
        token, _, default = match.group(1).partition("|")
        found = _attribute_find(
            attributes, token.split("."), default if "|" in match.group(1) else None
        )
        if found is None:
            unmatched.append(token)
        return ruby_to_s(found)

    return TOKEN_PATTERN.sub(replace, text), unmatched


def object_tokens_substitute(obj: Any, attributes: dict[str, Any]) -> tuple[Any, list[str]]:
    """utilities.rb `object_substitute_tokens`: strings anywhere in hashes and arrays."""
    if isinstance(obj, dict):
        unmatched: list[str] = []
        result = {}
        for key, value in obj.items():
            result[key], missing = object_tokens_substitute(value, attributes)
            unmatched.extend(missing)
        return result, list(dict.fromkeys(unmatched))
    if isinstance(obj, list):
        unmatched = []
        items = []
        for value in obj:
            item, missing = object_tokens_substitute(value, attributes)
            items.append(item)
            unmatched.extend(missing)
        return items, list(dict.fromkeys(unmatched))
    if isinstance(obj, str):
        return tokens_substitute(obj, attributes)
    return obj, []


def proxy_clients_matching(client_attributes: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The registry's clients (as Sensu stores them) that match, read in pages by id."""
    last_pk = 0
    while True:
        page = list(Client.objects.filter(pk__gt=last_pk).order_by("pk")[:CLIENT_PAGE_SIZE])
        if not page:
            return
        for client in page:
            document = client.as_sensu()
            if attributes_match(document, client_attributes):
                yield document
        last_pk = page[-1].pk


# --- Publishing -------------------------------------------------------------------------


def transport_publish_options(subscription: str) -> tuple[str, str]:
    """
    process.rb `transport_publish_options`: a `roundrobin:` or `direct:` subscription is a
    direct exchange of that name (one agent consumes each request), any other a fanout.
    """
    kind = subscription.split(":", 1)[0] if ":" in subscription else ""
    return ("direct" if kind in ("direct", "roundrobin") else "fanout", subscription)


def check_request_publish(check: dict[str, Any], *, issued: int | None = None) -> dict[str, Any]:
    """
    process.rb `publish_check_request`: the check without `subscribers` and `interval`, plus
    `issued`, published to each subscription. Returns the payload. Raises
    monitoring.bus.TransportUnavailable (nothing is dropped silently).
    """
    payload = {k: v for k, v in check.items() if k not in ("subscribers", "interval")}
    payload["issued"] = epoch_now() if issued is None else issued
    body = json.dumps(payload, separators=(",", ":")).encode()
    subscribers = check.get("subscribers") or []
    if not isinstance(subscribers, list):
        subscribers = [subscribers]  # One subscription written without its list.
    subscribers = [str(s) for s in subscribers]
    logger.info("publishing check request %s to %s", check.get("name"), subscribers)
    for subscription in subscribers:
        kind, exchange = transport_publish_options(subscription)
        transport_publish(kind, exchange, body, {})
    return payload


def proxy_check_requests_publish(check: dict[str, Any], *, issued: int | None = None) -> int:
    """
    process.rb `create_proxy_check_requests` / `publish_proxy_check_request`: one request per
    client matching `proxy_requests.client_attributes`, its client tokens substituted and
    `source` defaulted to the client's name; a client whose tokens do not all match is
    skipped with a warning. Sensu's optional `splay` over `splay_coverage` is not applied:
    every request is published at the check's fire time (docs/api-compat.md). Returns how
    many requests were published.
    """
    client_attributes = (check.get("proxy_requests") or {}).get("client_attributes")
    if not isinstance(client_attributes, dict) or not client_attributes:
        return 0
    published = 0
    for client in proxy_clients_matching(client_attributes):
        proxy_check, unmatched = object_tokens_substitute(check, client)
        if unmatched:
            logger.warning(
                "failed to publish a proxy check request for %s to client %s: unmatched "
                "client tokens %s",
                check.get("name"),
                client["name"],
                unmatched,
            )
            continue
        # Ruby's `||=`: only nil or false give way (an empty string is kept).
        if proxy_check.get("source") in (None, False):
            proxy_check["source"] = client["name"]
        check_request_publish(proxy_check, issued=issued)
        published += 1
    return published


def check_requests_publish(check: dict[str, Any], *, issued: int | None = None) -> None:
    """process.rb `create_check_request_proc`'s choice: proxy requests, or one request."""
    if not transport_configured():
        raise TransportUnavailable(NO_TRANSPORT_MESSAGE)
    if check.get("proxy_requests"):
        proxy_check_requests_publish(check, issued=issued)
    else:
        check_request_publish(check, issued=issued)


# --- The tick ---------------------------------------------------------------------------


_no_transport_warned_at: int | None = None


def _warn_no_transport() -> None:
    global _no_transport_warned_at
    now = epoch_now()
    if (
        _no_transport_warned_at is None
        or now - _no_transport_warned_at >= NO_TRANSPORT_WARNING_EVERY_SECONDS
    ):
        _no_transport_warned_at = now
        logger.warning(
            "Scheduled subscription checks are not requested of any agent. %s", NO_TRANSPORT_MESSAGE
        )


def check_schedule_claim(*, check_name: str, due_ms: int, previous: int | None) -> int | None:
    """
    Claim fire time `due_ms` of a check whose CheckSchedule read `previous` (None: no row):
    advance the row with a conditional UPDATE, or create it, and return what it held (0 for a
    new row); None when another runner got there first.
    """
    if previous is None:
        try:
            with transaction.atomic():
                CheckSchedule.objects.create(check_name=check_name, last_issued_ms=due_ms)
            return 0
        except IntegrityError:
            return None  # Another runner created it, claiming this fire time.
    # Conditional on the value read: of two runners that both read it, one updates the row
    # and the other's UPDATE, re-checked after the first commits, matches nothing.
    claimed = CheckSchedule.objects.filter(check_name=check_name, last_issued_ms=previous).update(
        last_issued_ms=due_ms
    )
    return previous if claimed else None


def _claim_undo(*, check_name: str, due_ms: int, previous: int) -> None:
    """Give a fire time back after a failed publish, so the next tick tries it again."""
    CheckSchedule.objects.filter(check_name=check_name, last_issued_ms=due_ms).update(
        last_issued_ms=previous
    )


def _no_transport_tick() -> int:
    if next(scheduled_checks(), None) is not None:
        _warn_no_transport()
    return 0


def check_requests_schedule_tick(*, now: datetime | None = None) -> int:
    """
    One tick of the scheduler under its run lease: publish every scheduled check whose
    newest fire time has not been published. Returns how many checks were requested (0 when
    another run holds the lease). `now` pins the clock for tests.
    """
    if not transport_configured():
        return _no_transport_tick()  # Nothing to publish through: no lease to take either.
    with exclusive_run_lease(
        name=CHECK_SCHEDULER_JOB, seconds=CHECK_SCHEDULER_LEASE_SECONDS
    ) as lease:
        if lease is None:
            return 0
        return check_requests_schedule(lease=lease, now=now)


def check_requests_schedule(*, lease: RunLease | None = None, now: datetime | None = None) -> int:
    """The tick's work (see check_requests_schedule_tick); returns how many checks were requested."""
    if not transport_configured():
        return _no_transport_tick()
    now = now or timezone.now()
    now_ms = int(now.timestamp() * 1000)
    requested = 0
    for page in _scheduled_check_pages():
        if lease is not None and not lease.renew_if_due():
            logger.warning("Check scheduler lost its lease; stopping after %d", requested)
            return requested
        # One read of the page's schedules: most ticks find nothing due.
        last_issued = dict(
            CheckSchedule.objects.filter(check_name__in=[c["name"] for c in page]).values_list(
                "check_name", "last_issued_ms"
            )
        )
        for check in page:
            name = check["name"]
            due_ms = check_request_due_ms(name, check["interval"], now_ms)
            if last_issued.get(name, -1) >= due_ms:
                continue
            previous = check_schedule_claim(
                check_name=name, due_ms=due_ms, previous=last_issued.get(name)
            )
            if previous is None:
                continue
            if check_subdued(check, now=now):
                # Sensu's timer fired and published nothing: the fire time is spent.
                logger.info("check request was subdued: %s", name)
                continue
            try:
                check_requests_publish(check, issued=due_ms // 1000)
            except Exception:
                # A broker outage: give the fire time back and try again on the next tick,
                # without hammering the broker once per check meanwhile.
                _claim_undo(check_name=name, due_ms=due_ms, previous=previous)
                logger.exception("failed to publish check request %s; retrying next tick", name)
                return requested
            requested += 1
    return requested


def check_scheduler_loop(stopping: threading.Event) -> None:
    """
    The worker thread (registry["worker_threads"]): a tick at each second boundary while the
    transport is configured, one a minute otherwise (it can only warn). Every worker runs
    it; the lease and the conditional claim keep each request single-fire.
    """
    while not stopping.is_set():
        try:
            check_requests_schedule_tick()
        finally:
            close_old_connections()
        pause = 1 - time.time() % 1 if transport_configured() else NO_TRANSPORT_TICK_SECONDS
        stopping.wait(pause)
