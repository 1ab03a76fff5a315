"""
Retraced's publisher API, events: `POST /publisher/v1/project/<project_id>/event` and
`.../event/bulk`. Thin views: the body is parsed and checked here (Retraced's rules,
audits.retraced.validation), stored by audits.retraced.services into the token's tenancy.
A plain valid single event from a token of the path's project is stored by `fast_post`,
before DRF (integration_site.fast_path), as on the Replicated Audit API.
"""

from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions

from audits.audit_api import (
    IDEMPOTENCY_KEY_REUSED,
    IDEMPOTENCY_PARAMETER,
    bulk_events_of,
    idempotency_claim,
    ingest_response,
    parse_json_body,
)
from audits.ingest import EventInvalid, ValidEvent, printable
from audits.retraced.base import InvalidInputs, PublisherAPIView
from audits.retraced.services import retraced_events_publish
from audits.retraced.validation import retraced_event_validate
from audits.services import IdempotencyKeyReused
from audits.tenancy import environment_get
from integration_site.client_ip import client_ip
from integration_site.errors import UnprocessableEntity
from integration_site.fast_path import TokenFastPathMixin
from integration_site.scopes import Scope

RECEIPT = {
    "type": "object",
    "properties": {
        "id": {"type": "string", "pattern": "^[0-9a-f]{32}$", "description": "Retraced's id"},
        "hash": {
            "type": "string",
            "pattern": "^[0-9a-f]{64}$",
            "description": "retraced-js computeHash of the event with this id",
        },
    },
    "required": ["id", "hash"],
}
RETRACED_ERROR = {
    "type": "object",
    "properties": {
        "status": {"type": "integer"},
        "type": {"type": "string"},
        "error": {"type": "string"},
        "invalid": {},
    },
    "required": ["status", "type", "error"],
}
ERRORS = {
    400: OpenApiResponse(RETRACED_ERROR, description="Invalid input, named in `error`"),
    401: OpenApiResponse(RETRACED_ERROR, description="No key, or a key of another project"),
    403: OpenApiResponse(RETRACED_ERROR, description="The key lacks the audit:write scope"),
    404: OpenApiResponse(RETRACED_ERROR, description="No such project (a user's request)"),
    422: OpenApiResponse(RETRACED_ERROR, description=IDEMPOTENCY_KEY_REUSED),
}
EVENT_FIELDS = (
    "action (required), crud (required: c|r|u|d), actor {id, name, href, fields} (required "
    "unless is_anonymous), target {id, name, href, type, fields}, group {id, name}, "
    "source_ip, description, created (ISO 8601), is_failure, is_anonymous, fields, metadata, "
    "component, version, external_id"
)


class PublisherEventsView(PublisherAPIView):
    required_scopes = {"POST": Scope.AUDIT_WRITE}
    parser_classes: list = []  # the body is parsed by parse_json_body, whatever its type

    def publish(
        self, request, *, endpoint: str, payloads: list[Any], events: list[ValidEvent], bulk: bool
    ) -> HttpResponse:
        project, environment = self.tenancy(request)
        # A user acts in any project: the path's must exist. A token's tenancy was checked
        # when it was made (audits.tenancy.token_tenancy_check).
        is_user = getattr(request.user, "token", None) is None
        if is_user and environment_get(project=project, environment=environment) is None:
            raise exceptions.NotFound(
                f"No project {printable(project)!r} with environment {environment!r}."
            )
        claim = idempotency_claim(
            request, endpoint=f"publisher/{project}/{endpoint}", payload=payloads
        )
        try:
            result = retraced_events_publish(
                payloads=payloads,
                events=events,
                project=project,
                environment=environment,
                caller_ip=client_ip(request) or None,
                bulk=bulk,
                idempotency=claim,
            )
        except IdempotencyKeyReused:
            raise UnprocessableEntity(
                "This Idempotency-Key was already used with a different request body."
            ) from None
        return ingest_response(result)


class PublisherEventView(TokenFastPathMixin, PublisherEventsView):
    """`POST /publisher/v1/project/<project_id>/event`: 201 `{"id", "hash"}` once stored."""

    def fast_post(self, request) -> HttpResponse | None:
        if "Idempotency-Key" in request.headers:
            return None  # its claim, replay and 422 belong to the general path
        token = request.user.token
        if token.project != self.kwargs["project_id"]:
            return None  # the general path answers Retraced's 401
        try:
            payload = parse_json_body(request)
            event = retraced_event_validate(payload)
        except (exceptions.ParseError, EventInvalid, RequestDataTooBig):
            return None
        result = retraced_events_publish(
            payloads=[payload],
            events=[event],
            project=token.project,
            environment=token.environment,
            caller_ip=client_ip(request) or None,
            bulk=False,
        )
        response = ingest_response(result)
        response["X-Retraced-RequestId"] = getattr(request, "request_id", "")
        return response

    @extend_schema(
        operation_id="retraced_event_create",
        request={"application/json": OpenApiTypes.OBJECT},
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={201: OpenApiResponse(RECEIPT, description="The event's receipt"), **ERRORS},
        description=(
            f"Retraced's publisher API: record one event ({EVENT_FIELDS}) in the API key's "
            "project and environment. A key of another project gets 401."
        ),
    )
    def post(self, request, project_id: str):
        payload = parse_json_body(request)
        try:
            event = retraced_event_validate(payload)
        except EventInvalid as invalid:
            raise exceptions.ValidationError(invalid.errors) from None
        return self.publish(
            request, endpoint="event", payloads=[payload], events=[event], bulk=False
        )


class PublisherEventBulkView(PublisherEventsView):
    """
    `POST /publisher/v1/project/<project_id>/event/bulk` with `{"events": [...]}`: at most
    AUDIT_BULK_MAX_EVENTS, all stored or none; 201 with the receipts in input order, or
    Retraced's 400 listing each bad event's index and violations.
    """

    @extend_schema(
        operation_id="retraced_events_bulk_create",
        request={"application/json": OpenApiTypes.OBJECT},
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={
            201: OpenApiResponse(
                {"type": "array", "items": RECEIPT}, description="The receipts, in input order"
            ),
            **ERRORS,
        },
    )
    def post(self, request, project_id: str):
        payload = parse_json_body(request)
        # An empty batch is Retraced's 201 `[]`; over the cap, Retraced's words.
        items = bulk_events_of(
            payload,
            allow_empty=True,
            over_limit="A maximum of {limit} events may be created at once, received {count} "
            "(AUDIT_BULK_MAX_EVENTS).",
        )
        events, invalid = [], []
        for index, item in enumerate(items):
            try:
                events.append(retraced_event_validate(item))
            except EventInvalid as error:
                invalid.append(_invalid_input(index, error.errors))
        if invalid:
            details = "\n- ".join(entry["message"] for entry in invalid)
            raise InvalidInputs(
                f"One or more invalid inputs, no events were logged:\n- {details}", invalid
            )
        return self.publish(
            request, endpoint="event/bulk", payloads=items, events=events, bulk=True
        )


def _invalid_input(index: int, errors: dict[str, list[str]]) -> dict:
    """One entry of Retraced's `invalid` list."""
    violations = [
        {
            "field": field,
            "message": f"{field}: {message}",
            "violation": "missing" if "required" in message else "invalid",
        }
        for field, messages in errors.items()
        for message in messages
    ]
    lines = "\n-- ".join(v["message"] for v in violations)
    return {
        "index": index,
        "message": f"Invalid event input at index {index}:\n-- {lines}",
        "violations": violations,
    }
