"""
The Replicated Audit API (`POST /audit/v1/event`), its bulk companion and chain verification
(in the request for a short chain, else a background job: audits.jobs).
Thin views: body parsing and validation here, storage in audits.services.
"""

from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import APIView

from audits.background import audit_verification_start
from audits.chain import audit_chain_verify, chain_length_to_verify
from audits.ingest import EVENT_SCHEMA, EventInvalid, event_validate, printable
from audits.jobs import verification_as_dict
from audits.models import AuditVerification
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


def ingest_response(result: IngestResult) -> HttpResponse:
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
    return ingest_response(result)


def bulk_events_of(payload: Any, *, allow_empty: bool, over_limit: str) -> list:
    """
    The `events` list of a bulk body `{"events": [...]}` (this API's and Retraced's), at most
    AUDIT_BULK_MAX_EVENTS long; `over_limit` words the refusal, with `{limit}` and `{count}`.
    The events themselves are the caller's to validate.
    """
    if not isinstance(payload, dict):
        raise exceptions.ValidationError({"non_field_errors": ['Expected {"events": [...]}.']})
    unknown = sorted(set(payload) - {"events"})
    if unknown:
        raise exceptions.ValidationError({printable(k): ["Unknown field."] for k in unknown})
    items = payload.get("events")
    if not isinstance(items, list) or not (items or allow_empty):
        shape = "an array" if allow_empty else "a non-empty array"
        raise exceptions.ValidationError({"events": [f"Must be {shape} of events."]})
    limit = settings.AUDIT_BULK_MAX_EVENTS
    if len(items) > limit:
        message = over_limit.format(limit=limit, count=len(items))
        raise exceptions.ValidationError({"events": [message]})
    return items


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
        request={"application/json": EVENT_SCHEMA},
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
        request={
            "application/json": {
                "type": "object",
                "properties": {
                    "events": {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": settings.AUDIT_BULK_MAX_EVENTS,
                        "items": EVENT_SCHEMA,
                    }
                },
                "required": ["events"],
                "additionalProperties": False,
            }
        },
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={
            201: OpenApiResponse(BULK_CREATED, description="The events' ids and hashes, in order"),
            422: OpenApiResponse(ERROR_BODY, description=IDEMPOTENCY_KEY_REUSED),
        },
    )
    def post(self, request):
        payload = parse_json_body(request)
        items = bulk_events_of(
            payload,
            allow_empty=False,
            over_limit="At most {limit} events per request (AUDIT_BULK_MAX_EVENTS); got {count}.",
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


VERIFICATION_JOB = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "state": {"type": "string", "enum": ["queued", "running", "succeeded", "failed"]},
        "checked": {"type": "integer", "description": "Events verified so far"},
        "total_estimate": {"type": "integer", "nullable": True},
        "requested_by": {"type": "string"},
        "created_at": {"type": "string", "format": "date-time"},
        "started_at": {"type": "string", "format": "date-time", "nullable": True},
        "finished_at": {"type": "string", "format": "date-time", "nullable": True},
        "error": {"type": "string", "nullable": True},
        "result": {
            "type": "object",
            "nullable": True,
            "description": "The verdict once succeeded: the body GET /audit/v1/verify answers",
        },
    },
    "required": ["id", "state", "checked", "result"],
}
VERIFY_RESULT = {
    "type": "object",
    "properties": {
        "ok": {"type": "boolean"},
        "verified": {"type": "integer"},
        "message": {"type": "string"},
        "broken_seq": {"type": "integer", "nullable": True},
        "broken_id": {"type": "integer", "nullable": True},
        "broken_chain": {
            "type": "integer",
            "nullable": True,
            "description": "The chain of the break: 1 is the default project's, each other "
            "project has its own.",
        },
        "pending": {"type": "integer"},
    },
    "required": ["ok", "verified", "message"],
}
JOB_ACCEPTED = OpenApiResponse(
    VERIFICATION_JOB,
    description="A verification job (new, or the one already queued or running); its URL is "
    "in the Location header",
)


def _verification_accepted(request, job) -> Response:
    location = reverse("audit-chain-verification", args=[job.pk])
    response = Response(verification_as_dict(job), status=202)
    response["Location"] = request.build_absolute_uri(location)
    return response


class AuditChainVerifyView(APIView):
    """
    `/audit/v1/verify`: POST starts a walk of the hash chain in the worker (202 with the job
    and its Location); GET walks in the request, as it always did, while the chain is at most
    AUDIT_VERIFY_SYNC_MAX_EVENTS long, and beyond that answers like POST, so no request
    outlives its statement or worker timeout.
    """

    required_scopes = {"GET": Scope.AUDIT_VERIFY, "POST": Scope.AUDIT_VERIFY}

    @extend_schema(
        operation_id="audit_chain_verify",
        responses={
            200: OpenApiResponse(VERIFY_RESULT, description="The verdict (`ok`), walked now"),
            202: JOB_ACCEPTED,
        },
    )
    def get(self, request):
        if chain_length_to_verify() > settings.AUDIT_VERIFY_SYNC_MAX_EVENTS:
            job, _ = audit_verification_start(user=request.user)
            return _verification_accepted(request, job)
        # 200 either way: the verification ran; `ok` carries its verdict.
        return Response(audit_chain_verify().as_dict())

    @extend_schema(
        operation_id="audit_chain_verification_start", request=None, responses={202: JOB_ACCEPTED}
    )
    def post(self, request):
        job, _ = audit_verification_start(user=request.user)
        return _verification_accepted(request, job)


class AuditChainVerificationView(APIView):
    """`GET /audit/v1/verify/<id>`: a verification job's progress, then its verdict."""

    required_scopes = {"GET": Scope.AUDIT_VERIFY}

    @extend_schema(
        operation_id="audit_chain_verification",
        responses={200: OpenApiResponse(VERIFICATION_JOB, description="The job")},
    )
    def get(self, request, verification_id: int):
        # Beyond a bigint no row can exist, and PostgreSQL would refuse the comparison.
        job = (
            AuditVerification.objects.filter(pk=verification_id).first()
            if verification_id < 2**63
            else None
        )
        if job is None:
            raise exceptions.NotFound(f"No chain verification {verification_id}.")
        return Response(verification_as_dict(job))
