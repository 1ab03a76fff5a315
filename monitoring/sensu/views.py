"""
Sensu 1.x's HTTP API (lib/sensu/api/routes/*.rb) at the root paths Sensu uses. Views are
thin: bodies are checked by monitoring.sensu.validation, writes go to monitoring.engine or
monitoring.services, reads come from monitoring.selectors and are shaped by
monitoring.sensu.payloads.
"""

import hashlib
import json
import re
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.db.models import QuerySet
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import APIException, MethodNotAllowed, NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from integration_site.errors import Conflict, ServiceUnavailable
from integration_site.fast_path import TokenFastPathMixin
from integration_site.models import WorkerHeartbeat
from integration_site.schema import (
    ERROR_BODY,
    ISSUED,
    JSON_ARRAY,
    JSON_OBJECT,
    PATH_CREATED,
    PeerShapedSchema,
    body_schema,
    wire,
)
from integration_site.scopes import Scope
from monitoring import selectors, services
from monitoring.bus import TransportUnavailable
from monitoring.engine import UnknownEvent, event_resolve, result_accept
from monitoring.models import (
    CheckDefinition,
    CheckResult,
    Client,
    Silence,
    Stash,
    epoch_now,
    silence_key,
)
from monitoring.redaction import redact
from monitoring.sensu import payloads
from monitoring.sensu.transport import transport_info
from monitoring.sensu.validation import (
    CLIENT_RULES,
    REQUEST_RULES,
    RESOLVE_RULES,
    RESULT_RULES,
    SILENCE_CLEAR_RULES,
    SILENCE_RULES,
    STASH_RULES,
    json_object,
    read_data,
)

# The Sensu release whose API this mirrors; clients such as sensu-cli read it from /info.
SENSU_VERSION = "1.9.0"
# Sensu lists in /info only the servers whose heartbeat is at most this old.
SENSU_SERVER_MAX_AGE_SECONDS = 30
_DIGITS = re.compile(r"\A[0-9]+\Z")


# Sensu's Ruby integers have no ceiling: a limit past the end means everything and an offset
# past the end an empty page. Ours stop at a row position the database can take.
MAX_ROW_POSITION = 2**63 - 1


def _int_param(value: str | None) -> int | None:
    if value is None or not _DIGITS.match(value):
        return None
    # int() refuses more than 4300 digits; anything past 19 is past every row anyway.
    return min(int(value), MAX_ROW_POSITION) if len(value) <= 20 else MAX_ROW_POSITION


def ruby_to_s(value: Any) -> str:
    """How Sensu's attribute match stringifies a value before comparing it to a query string."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def attributes_match(obj: Any, attributes: dict[str, Any]) -> bool:
    """Sensu's `attributes_match?` without eval: nested hashes AND-ed, `==` or `to_s ==`."""
    if not isinstance(obj, dict):
        return False
    for key, expected in attributes.items():
        value = obj.get(key)
        if isinstance(expected, dict):
            if not attributes_match(value, expected):
                return False
        elif not (value == expected or ruby_to_s(value) == expected):
            return False
    return True


def response_filters(query_params) -> dict[str, Any]:
    """`filter.client.environment=production` -> {"client": {"environment": "production"}}."""
    attributes: dict[str, Any] = {}
    for key, value in query_params.items():
        if not key.startswith("filter.") or len(key) <= len("filter."):
            continue
        node = attributes
        *parents, leaf = key[len("filter.") :].split(".")
        for part in parents:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[leaf] = value
    return attributes


class SensuView(APIView):
    """
    Shared Sensu behaviour: read scope for GET/HEAD, write scope otherwise; a known path
    with the wrong method answers 405 with Allow before any permission check; list
    endpoints paginate with `limit`/`offset` and the `X-Pagination` header.
    """

    required_scopes = {"GET": Scope.MONITORING_READ, "*": Scope.MONITORING_WRITE}
    # Sensu defines these payloads; the schema documents them as free-form JSON objects.
    schema = PeerShapedSchema()

    def check_permissions(self, request):
        method = request.method.lower()
        if method == "options":
            return  # Sensu answers OPTIONS (CORS preflight) without authentication.
        if method not in self.http_method_names or not hasattr(self, method):
            raise MethodNotAllowed(request.method)
        super().check_permissions(request)

    def options(self, request, *args, **kwargs):
        return Response(status=200)

    def body(self, rules=None) -> dict[str, Any]:
        if rules is None:
            return json_object(self.request.body)
        return read_data(self.request.body, rules)

    def paginated(
        self, items: QuerySet | list, render: Callable[[Any], dict] | None = None
    ) -> Response:
        """
        Sensu's `pagination` plus `filter.` parameters. Filters run BEFORE pagination (Sensu
        filtered the page afterwards, so pages came back short and `total` ignored filters).
        """
        render = render or (lambda item: item)
        filters = response_filters(self.request.query_params)
        limit = _int_param(self.request.query_params.get("limit"))
        offset = _int_param(self.request.query_params.get("offset")) or 0
        if filters:
            rendered = [
                row for row in self._render_all(items, render) if attributes_match(row, filters)
            ]
            total = len(rendered)
            start, stop = _window(offset, limit, total)
            page = rendered if limit is None else rendered[start:stop]
        else:
            total = items.count() if isinstance(items, QuerySet) else len(items)
            start, stop = _window(offset, limit, total)
            window = items if limit is None else items[start:stop]
            page = self._render_all(window, render)
        headers = {}
        if limit is not None:
            headers["X-Pagination"] = json.dumps(
                {"limit": limit, "offset": offset, "total": total}, separators=(",", ":")
            )
        return Response(page, headers=headers)

    def _render_all(self, items: Iterable, render: Callable[[Any], dict]) -> list[dict]:
        return [render(item) for item in items]


def _window(offset: int, limit: int | None, total: int) -> tuple[int, int]:
    """The slice [offset, offset + limit) clamped to the rows there are, so the database
    never sees an OFFSET or LIMIT larger than the table (PostgreSQL's "bigint out of range")."""
    start = min(offset, total)
    return start, min(start + (limit or 0), total)


def _issued(issued: int) -> Response:
    return Response({"issued": issued}, status=202)


# --- Events ------------------------------------------------------------------------------


class EventsView(SensuView):
    @wire({200: JSON_ARRAY})
    def get(self, request):
        silences = selectors.silences_active()
        return self.paginated(
            selectors.events_queryset(), lambda e: payloads.event_payload(e, silences)
        )


class ClientEventsView(SensuView):
    @wire({200: JSON_ARRAY})
    def get(self, request, client: str):
        silences = selectors.silences_active()
        events = selectors.events_queryset().filter(client__name=client)
        return self.paginated(events, lambda e: payloads.event_payload(e, silences))


class EventView(SensuView):
    @wire({200: JSON_OBJECT})
    def get(self, request, client: str, check: str):
        event = selectors.events_queryset().filter(client__name=client, check_name=check).first()
        if event is None:
            raise NotFound(f"No event for client {client!r} and check {check!r}.")
        return Response(payloads.event_payload(event, selectors.silences_active()))

    @wire({202: ISSUED})
    def delete(self, request, client: str, check: str):
        try:
            return _issued(event_resolve(client_name=client, check_name=check))
        except UnknownEvent as exc:
            raise NotFound(str(exc)) from exc


class ResolveView(SensuView):
    @wire({202: ISSUED, 404: ERROR_BODY}, request=body_schema(RESOLVE_RULES))
    def post(self, request):
        data = self.body(RESOLVE_RULES)
        try:
            return _issued(event_resolve(client_name=data["client"], check_name=data["check"]))
        except UnknownEvent as exc:
            raise NotFound(str(exc)) from exc


# --- Clients -----------------------------------------------------------------------------


class ClientsView(SensuView):
    @wire({200: JSON_ARRAY})
    def get(self, request):
        return self.paginated(
            Client.objects.order_by("name"),
            lambda c: payloads.client_payload(c, redacted=True),
        )

    @wire(
        {201: {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}},
        request=body_schema(CLIENT_RULES),
    )
    def post(self, request):
        data = self.body(CLIENT_RULES)
        thresholds = (data.get("keepalive") or {}).get("thresholds") or {}
        if not isinstance(thresholds, dict) or not all(
            isinstance(thresholds.get(k), int) for k in thresholds if k in ("warning", "critical")
        ):
            raise ValidationError({"keepalive": ["thresholds must be integers."]})
        client = services.client_register(data=data, version=SENSU_VERSION)
        return Response({"name": client.name}, status=201)


class ClientView(SensuView):
    @wire({200: JSON_OBJECT})
    def get(self, request, client: str):
        found = get_object_or_404(Client, name=client)
        return Response(payloads.client_payload(found, redacted=True))

    @wire({202: ISSUED, 409: ERROR_BODY})
    def delete(self, request, client: str):
        found = get_object_or_404(Client, name=client)
        try:
            return _issued(services.client_delete(client=found))
        except services.ClientDeleteConflict as conflict:
            raise Conflict(str(conflict)) from None


class ClientHistoryView(SensuView):
    @wire({200: JSON_ARRAY})
    def get(self, request, client: str):
        found = get_object_or_404(Client, name=client)
        return Response(payloads.client_history(found))


# --- Checks and requests -----------------------------------------------------------------


class ChecksView(SensuView):
    @wire({200: JSON_ARRAY})
    def get(self, request):
        return self.paginated(selectors.checks_queryset(), payloads.check_payload)


class CheckView(SensuView):
    @wire({200: JSON_OBJECT})
    def get(self, request, check: str):
        definition = get_object_or_404(selectors.checks_queryset(), name=check)
        return Response(payloads.check_payload(definition))

    @wire({202: ISSUED})
    def delete(self, request, check: str):
        services.check_results_delete(check_name=check)
        return _issued(epoch_now())


class RequestView(SensuView):
    @wire({202: ISSUED, 404: ERROR_BODY, 503: ERROR_BODY}, request=body_schema(REQUEST_RULES))
    def post(self, request):
        data = self.body(REQUEST_RULES)
        definition = CheckDefinition.objects.filter(name=data["check"]).first()
        if definition is None:
            raise NotFound(f"No check definition named {data['check']!r}.")
        try:
            issued = services.check_request(
                check=definition,
                subscribers=data.get("subscribers"),
                reason=data.get("reason"),
                creator=data.get("creator"),
            )
        except TransportUnavailable as exc:
            # Sensu answered 202 even when the publish failed; a request that reaches no
            # agent is refused here instead (docs/api-compat.md).
            raise ServiceUnavailable(str(exc)) from exc
        return _issued(issued)


# --- Results -----------------------------------------------------------------------------


class ResultsView(TokenFastPathMixin, SensuView):
    """
    POST /results is the ingest hot path (every check result of every client): a valid
    token and body are answered by `fast_post`, before DRF (integration_site.fast_path).
    """

    def fast_post(self, request) -> HttpResponse | None:
        try:
            data = read_data(request.body, RESULT_RULES)
        except (APIException, RequestDataTooBig):
            return None
        issued = self._publish(data)
        return HttpResponse(b'{"issued":%d}' % issued, status=202, content_type="application/json")

    @wire({200: JSON_ARRAY})
    def get(self, request):
        return self.paginated(selectors.results_queryset(), payloads.result_payload)

    @wire({202: ISSUED}, request=body_schema(RESULT_RULES))
    def post(self, request):
        data = self.body(RESULT_RULES)
        return _issued(self._publish(data))

    @staticmethod
    def _publish(data: dict[str, Any]) -> int:
        # Sensu publishes API results for the client "sensu-api" unless `source` names one,
        # on its transport: the engine runs in the worker (accepted_results_drain), as the
        # Sensu server consumed the queue. One INSERT here.
        issued = epoch_now()
        result_accept(client_name="sensu-api", check=data, now=issued)
        return issued


class ClientResultsView(SensuView):
    @wire({200: JSON_ARRAY})
    def get(self, request, client: str):
        results = selectors.results_queryset().filter(client__name=client)
        return self.paginated(results, payloads.result_payload)


class ResultView(SensuView):
    @wire({200: JSON_OBJECT})
    def get(self, request, client: str, check: str):
        result = get_object_or_404(
            selectors.results_queryset(), client__name=client, check_name=check
        )
        return Response(payloads.result_payload(result))

    @wire({204: None})
    def delete(self, request, client: str, check: str):
        result = get_object_or_404(CheckResult, client__name=client, check_name=check)
        services.result_delete(result=result)
        return Response(status=204)


# --- Silenced ----------------------------------------------------------------------------


class SilencedView(SensuView):
    @wire({200: JSON_ARRAY})
    def get(self, request):
        return self.paginated(selectors.silences_queryset(), payloads.silence_payload)

    @wire({201: None}, request=body_schema(SILENCE_RULES))
    def post(self, request):
        data = self.body(SILENCE_RULES)
        if not data.get("subscription") and not data.get("check"):
            raise ValidationError("A silence needs a subscription, a check, or both.")
        services.silence_create(
            subscription=data.get("subscription"),
            check=data.get("check"),
            reason=data.get("reason"),
            creator=data.get("creator"),
            begin=data.get("begin"),
            expire=data.get("expire"),
            expire_on_resolve=bool(data.get("expire_on_resolve", False)),
        )
        return Response(status=201)


class SilencedIdView(SensuView):
    @wire({200: JSON_OBJECT})
    def get(self, request, silence_id: str):
        silence = get_object_or_404(selectors.silences_queryset(), silence_id=silence_id)
        return Response(payloads.silence_payload(silence))


class SilencedSubscriptionView(SensuView):
    @wire({200: JSON_ARRAY})
    def get(self, request, subscription: str):
        silences = selectors.silences_queryset().filter(subscription=subscription)
        return self.paginated(silences, payloads.silence_payload)


class SilencedCheckView(SensuView):
    @wire({200: JSON_ARRAY})
    def get(self, request, check: str):
        silences = selectors.silences_queryset().filter(check_name=check)
        return self.paginated(silences, payloads.silence_payload)


class SilencedClearView(SensuView):
    @wire({204: None, 404: ERROR_BODY}, request=body_schema(SILENCE_CLEAR_RULES))
    def post(self, request):
        data = self.body(SILENCE_CLEAR_RULES)
        if data.get("id"):
            silence_id = data["id"]
        elif data.get("subscription") or data.get("check"):
            silence_id = silence_key(data.get("subscription"), data.get("check"))
        else:
            raise ValidationError("Give an id, or a subscription and/or a check.")
        silences = Silence.objects.filter(silence_id=silence_id)
        if not services.silence_clear(silences=silences):
            raise NotFound(f"No silence entry {silence_id!r}.")
        return Response(status=204)


# --- Stashes -----------------------------------------------------------------------------


class StashesView(SensuView):
    @wire({200: JSON_ARRAY})
    def get(self, request):
        return self.paginated(selectors.stashes_queryset(), payloads.stash_payload)

    @wire({201: PATH_CREATED}, request=body_schema(STASH_RULES))
    def post(self, request):
        data = self.body(STASH_RULES)
        stash = services.stash_create(
            path=data["path"], content=data["content"], expire=data.get("expire")
        )
        return Response({"path": stash.path}, status=201)


class StashView(SensuView):
    @wire({200: JSON_OBJECT})
    def get(self, request, path: str):
        stash = get_object_or_404(selectors.stashes_queryset(), path=path)
        return Response(stash.content)

    @wire({201: PATH_CREATED}, request=body_schema())
    def post(self, request, path: str):
        content = self.body()
        stash = services.stash_create(path=path, content=content)
        return Response({"path": stash.path}, status=201)

    @wire({204: None})
    def delete(self, request, path: str):
        stash = get_object_or_404(Stash, path=path)
        services.stash_delete(stash=stash)
        return Response(status=204)


# --- Aggregates --------------------------------------------------------------------------


def _aggregate_or_404(name: str) -> None:
    if not selectors.aggregate_members(name).exists():
        raise NotFound(f"No aggregate named {name!r}.")


def _max_age(request) -> int | None:
    return _int_param(request.query_params.get("max_age"))


class AggregatesView(SensuView):
    @wire({200: JSON_ARRAY})
    def get(self, request):
        return self.paginated([{"name": name} for name in selectors.aggregate_names()])


class AggregateView(SensuView):
    @wire({200: JSON_OBJECT})
    def get(self, request, name: str):
        _aggregate_or_404(name)
        return Response(
            payloads.aggregate_summary(name, max_age=_max_age(request), now=epoch_now())
        )

    @wire({204: None})
    def delete(self, request, name: str):
        if not services.aggregate_delete(name=name):
            raise NotFound(f"No aggregate named {name!r}.")
        return Response(status=204)


class AggregateClientsView(SensuView):
    @wire({200: JSON_ARRAY})
    def get(self, request, name: str):
        _aggregate_or_404(name)
        clients: dict[str, list[str]] = {}
        for member in selectors.aggregate_members(name):
            clients.setdefault(member.client.name, []).append(member.check_name)
        return Response([{"name": n, "checks": sorted(c)} for n, c in sorted(clients.items())])


class AggregateChecksView(SensuView):
    @wire({200: JSON_ARRAY})
    def get(self, request, name: str):
        _aggregate_or_404(name)
        checks: dict[str, list[str]] = {}
        for member in selectors.aggregate_members(name):
            checks.setdefault(member.check_name, []).append(member.client.name)
        return Response([{"name": n, "clients": sorted(c)} for n, c in sorted(checks.items())])


class AggregateSeverityView(SensuView):
    SEVERITIES = {"ok": 0, "warning": 1, "critical": 2, "unknown": 3}

    @extend_schema(
        parameters=[OpenApiParameter("severity", str, OpenApiParameter.PATH, enum=[*SEVERITIES])]
    )
    @wire({200: JSON_ARRAY})
    def get(self, request, name: str, severity: str):
        if severity not in self.SEVERITIES:
            raise ValidationError({"severity": ["Must be ok, warning, critical or unknown."]})
        _aggregate_or_404(name)
        max_age = _max_age(request)
        now = epoch_now()
        wanted = self.SEVERITIES[severity]
        summary: dict[str, dict[str, dict[str, Any]]] = {}
        for result in selectors.aggregate_results(name):
            status = result.status if 0 <= result.status <= 2 else 3
            if status != wanted:
                continue
            if (
                max_age is not None
                and result.executed is not None
                and now - result.executed > max_age
            ):
                continue
            outputs = summary.setdefault(result.check_name, {})
            row = outputs.setdefault(
                result.output, {"output": result.output, "total": 0, "clients": []}
            )
            row["total"] += 1
            row["clients"].append(result.client.name)
        return Response(
            [
                {"check": check, "summary": list(rows.values())}
                for check, rows in sorted(summary.items())
            ]
        )


# --- Info and settings -------------------------------------------------------------------


# /info without SENSU_TRANSPORT_URL: no agent can reach the site, and Sensu's own shape for a
# transport it cannot reach says so (api/utilities/transport_info.rb).
NO_TRANSPORT_INFO = {
    "name": "none",
    "connected": False,
    "keepalives": {"messages": None, "consumers": None},
    "results": {"messages": None, "consumers": None},
}


class InfoView(SensuView):
    @wire({200: JSON_OBJECT})
    def get(self, request):
        digest = hashlib.sha256(
            json.dumps(payloads.settings_payload(), sort_keys=True, default=str).encode()
        ).hexdigest()
        # Sensu prunes a server whose heartbeat is older than 30 s: a killed worker, which
        # never deletes its row, drops out of the list as it would in Sensu.
        horizon = timezone.now() - timedelta(seconds=SENSU_SERVER_MAX_AGE_SECONDS)
        workers = list(
            WorkerHeartbeat.objects.filter(last_seen_at__gte=horizon).order_by("worker_id")
        )
        return Response(
            {
                "sensu": {"version": SENSU_VERSION, "settings": {"hexdigest": digest}},
                "transport": transport_info() or NO_TRANSPORT_INFO,
                "redis": {"connected": True},
                "servers": [
                    {
                        "id": w.worker_id,
                        "hostname": w.hostname,
                        "address": "",
                        "tasks": ["client_monitor", "check_result_monitor"],
                        "metrics": {},
                        "sensu": {"version": SENSU_VERSION},
                        "timestamp": int(w.last_seen_at.timestamp()),
                    }
                    for w in workers
                ],
                "timestamp": epoch_now(),
            }
        )


class SettingsView(SensuView):
    @wire({200: JSON_OBJECT})
    def get(self, request):
        # Always redacted (webhook header values are masked in the payload itself):
        # `redacted=false` is accepted as Sensu accepts it and changes nothing.
        return Response(redact(payloads.settings_payload()))
