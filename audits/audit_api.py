"""
The Replicated Audit API (`POST /audit/v1/event`), its bulk companion and chain verification.
Thin views: body parsing and validation here, storage in audits.services.
"""

from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import APIView

from audits.chain import audit_chain_verify
from audits.ingest import EventInvalid, event_validate, printable
from audits.services import (
    IdempotencyClaim,
    IdempotencyKeyReused,
    IngestResult,
    audit_events_ingest,
    idempotency_fingerprint,
)
from integration_site.authentication import TokenPrincipal
from integration_site.client_ip import client_ip
from integration_site.errors import UnprocessableEntity
from integration_site.fast_path import TokenFastPathMixin
from integration_site.parsers import json_parse
from integration_site.schema import ERROR_BODY
from integration_site.scopes import Scope

IDEMPOTENCY_KEY_MAX = 255

IDEMPOTENCY_PARAMETER = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description=(
        "At most 255 characters, kept 24 hours. A retry with the same key and body gets the "
        "first result and stores nothing; the same key with another body gets 422."
    ),
)


def parse_json_body(request) -> Any:
    """The body as JSON whatever the Content-Type (Replicated's curl examples vary)."""
    body = request.body
    if not body.strip():
        raise exceptions.ParseError("Request body is empty; expected a JSON object.")
    # The platform's parser; event_validate then checks every value with its field's path
    # (length, NUL, number range) and admits no free nesting, so the parser's walk over the
    # value is skipped to keep this path fast.
    return json_parse(body, values_checked_by_caller=True)


def _idempotency_owner(request) -> str:
    user = request.user
    if isinstance(user, TokenPrincipal):
        return f"token:{user.token.pk}"
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    return f"anonymous:{client_ip(request)}"


def idempotency_claim(request, *, endpoint: str, payload: Any) -> IdempotencyClaim | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not key or len(key) > IDEMPOTENCY_KEY_MAX or not key.isprintable():
        raise exceptions.ValidationError(
            {"Idempotency-Key": [f"Must be 1 to {IDEMPOTENCY_KEY_MAX} printable characters."]}
        )
    return IdempotencyClaim(
        owner=_idempotency_owner(request),
        key=key,
        fingerprint=idempotency_fingerprint(endpoint=endpoint, payload=payload),
    )


def _respond(result: IngestResult) -> HttpResponse:
    response = HttpResponse(result.body, status=result.status, content_type=result.content_type)
    for name, value in result.headers.items():
        response[name] = value
    if result.replayed:
        response["Idempotent-Replayed"] = "true"
    return response


def _ingest(request, *, endpoint: str, payload: Any, events: list, bulk: bool) -> HttpResponse:
    claim = idempotency_claim(request, endpoint=endpoint, payload=payload)
    try:
        result = audit_events_ingest(
            events=events, caller_ip=client_ip(request) or None, bulk=bulk, idempotency=claim
        )
    except IdempotencyKeyReused:
        raise UnprocessableEntity(
            "This Idempotency-Key was already used with a different request body."
        ) from None
    return _respond(result)


IDEMPOTENCY_KEY_REUSED = "The Idempotency-Key was already used with a different body"
BULK_CREATED = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {"id": {"type": "integer"}, "hash": {"type": "string"}},
        "required": ["id", "hash"],
    },
}


class AuditEventIngestView(TokenFastPathMixin, APIView):
    """
    Replicated's `POST /audit/v1/event`: 201 with an empty text/plain body once stored. A
    valid event from a token with `audit:write` and no Idempotency-Key is stored by
    `fast_post`, before DRF (integration_site.fast_path); everything else by `post`.
    """

    required_scopes = {"POST": Scope.AUDIT_WRITE}
    parser_classes: list = []  # the body is parsed in parse_json_body, whatever its type

    def fast_post(self, request) -> HttpResponse | None:
        if "Idempotency-Key" in request.headers:
            return None  # its claim, replay and 422 belong to the general path
        try:
            payload = parse_json_body(request)
            event = event_validate(payload)
        except (exceptions.ParseError, EventInvalid, RequestDataTooBig):
            return None
        return _ingest(request, endpoint="event", payload=payload, events=[event], bulk=False)

    @extend_schema(
        operation_id="audit_event_create",
        # The views parse the body themselves (no DRF parser): the media type is named here.
        request={"application/json": OpenApiTypes.OBJECT},
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={
            201: None,
            422: OpenApiResponse(ERROR_BODY, description=IDEMPOTENCY_KEY_REUSED),
        },
        description=(
            "Record one audit event (Replicated Audit API, plus Retraced's crud, actor, target, "
            "group, is_failure, is_anonymous, fields, metadata, created, external_id, "
            "component, version). The event's id is in the X-Audit-Event-Id header. It is "
            "stored pending and the worker links it into the chain moments later, so no hash "
            "is returned."
        ),
    )
    def post(self, request):
        payload = parse_json_body(request)
        try:
            event = event_validate(payload)
        except EventInvalid as invalid:
            raise exceptions.ValidationError(invalid.errors) from None
        return _ingest(request, endpoint="event", payload=payload, events=[event], bulk=False)


class AuditEventBulkIngestView(APIView):
    """
    `POST /audit/v1/event/bulk` with `{"events": [...]}` (Retraced's `event/bulk` shape): up to
    AUDIT_BULK_MAX_EVENTS events, all stored in one transaction or none; 201 with
    `[{"id", "hash"}]` in input order, or 400 naming each bad event by its index.
    """

    required_scopes = {"POST": Scope.AUDIT_WRITE}
    parser_classes: list = []

    @extend_schema(
        operation_id="audit_events_bulk_create",
        # The views parse the body themselves (no DRF parser): the media type is named here.
        request={"application/json": OpenApiTypes.OBJECT},
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={
            201: OpenApiResponse(BULK_CREATED, description="The events' ids and hashes, in order"),
            422: OpenApiResponse(ERROR_BODY, description=IDEMPOTENCY_KEY_REUSED),
        },
    )
    def post(self, request):
        payload = parse_json_body(request)
        if not isinstance(payload, dict):
            raise exceptions.ValidationError({"non_field_errors": ['Expected {"events": [...]}.']})
        unknown = sorted(set(payload) - {"events"})
        if unknown:
            raise exceptions.ValidationError({printable(k): ["Unknown field."] for k in unknown})
        items = payload.get("events")
        if not isinstance(items, list) or not items:
            raise exceptions.ValidationError({"events": ["Must be a non-empty array of events."]})
        limit = settings.AUDIT_BULK_MAX_EVENTS
        if len(items) > limit:
            raise exceptions.ValidationError(
                {
                    "events": [
                        f"At most {limit} events per request (AUDIT_BULK_MAX_EVENTS); "
                        f"got {len(items)}."
                    ]
                }
            )
        events, errors = [], {}
        for index, item in enumerate(items):
            try:
                events.append(event_validate(item))
            except EventInvalid as invalid:
                for path, messages in invalid.errors.items():
                    suffix = "" if path == "non_field_errors" else f".{path}"
                    errors[f"events[{index}]{suffix}"] = messages
        if errors:
            raise exceptions.ValidationError(errors)
        return _ingest(request, endpoint="event/bulk", payload=payload, events=events, bulk=True)


class AuditChainVerifyView(APIView):
    """`GET /audit/v1/verify`: walk the hash chain; report the count or the first broken link."""

    required_scopes = {"GET": Scope.AUDIT_VERIFY}

    @extend_schema(operation_id="audit_chain_verify", responses={200: OpenApiTypes.OBJECT})
    def get(self, request):
        # 200 either way: the verification ran; `ok` carries its verdict.
        return Response(audit_chain_verify().as_dict())
