"""
The Replicated License, Console, Version and Status APIs (seed 000, reference Part 1).
Views stay thin: reads through selectors, writes through services.
"""

import datetime
from typing import Any

from django.http import HttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from integration_site.errors import Conflict
from integration_site.fields import StrictCharField
from integration_site.schema import ERROR_BODY, JSON_ARRAY, NOT_BLANK
from integration_site.scopes import Scope
from licensing import selectors
from licensing.choices import Severity
from licensing.license_files import rfc3339
from licensing.models import LicenseField, Release, UpdateJob
from licensing.options import console_option_value
from licensing.services.status import startup_status_report
from licensing.services.updates import UpdateError, update_apply_request


class ReplicatedAcceptNegotiation(BaseContentNegotiation):
    """
    "If an Accept header is included it must contain */* or application/json, otherwise the
    request fails with 400" (Replicated's License and Status pages). Responses are JSON.
    """

    def select_parser(self, request, parsers):
        for parser in parsers:
            if parser.media_type == (request.content_type or "").split(";")[0].strip():
                return parser
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        renderer = renderers[0]
        accept = request.META.get("HTTP_ACCEPT")
        if accept is not None:
            media = {part.split(";")[0].strip().lower() for part in accept.split(",")}
            if not media & {"*/*", "application/json"}:
                raise exceptions.ParseError(
                    f"The Accept header ({accept[:100]}) must include */* or application/json: "
                    "this API answers JSON only."
                )
        return renderer, renderer.media_type


class ReplicatedJSONView(APIView):
    renderer_classes = [JSONRenderer]
    content_negotiation_class = ReplicatedAcceptNegotiation

    def perform_content_negotiation(self, request, force=False):
        # `force` is DRF rendering an error response: always JSON, never a second 400.
        if force:
            renderer = self.get_renderers()[0]
            return renderer, renderer.media_type
        return super().perform_content_negotiation(request, force)


def replicated_time(value: datetime.datetime | None) -> str | None:
    """The Version API's timestamps, as seed 000 prints them: 2015-12-01T00:00:00.0000000Z."""
    if value is None:
        return None
    value = value.astimezone(datetime.UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond:06d}0Z"


# --- License API ------------------------------------------------------------------------------


def license_field_json(field: LicenseField) -> dict[str, Any]:
    return {
        "field": field.field,
        "title": field.title,
        "type": field.type,
        "value": field.value,
        "hide_from_customer": field.hide_from_customer,
    }


class LicenseView(ReplicatedJSONView):
    required_scopes = {"GET": Scope.LICENSE_READ}

    @extend_schema(responses={200: OpenApiTypes.OBJECT, 404: OpenApiTypes.OBJECT})
    def get(self, request):
        license = selectors.license_current()
        if license is None:
            raise exceptions.NotFound("No license is installed.")
        body: dict[str, Any] = {
            "license_id": license.license_id,
            "installation_id": selectors.installation_get().installation_id,
            "assignee": license.assignee,
            "release_channel": license.release_channel,
            "license_type": license.license_type,
            # Hidden fields are returned too, flagged: only the console's page hides them.
            "fields": [license_field_json(f) for f in selectors.license_fields(license=license)],
        }
        if license.expiration_time is not None:
            body["expiration_time"] = rfc3339(license.expiration_time)
        return Response(body)


class LicenseFieldView(ReplicatedJSONView):
    required_scopes = {"GET": Scope.LICENSE_READ}

    @extend_schema(responses={200: OpenApiTypes.OBJECT, 404: OpenApiTypes.OBJECT})
    def get(self, request, field_name: str):
        license = selectors.license_current()
        if license is None:
            raise exceptions.NotFound("No license is installed.")
        field = selectors.license_fields(license=license).filter(field=field_name).first()
        if field is None:
            raise exceptions.NotFound(f"The license has no field named {field_name!r}.")
        body = {"field": field.field, "value": field.value, "type": field.type}
        if field.hide_from_customer:
            body["hide_from_customer"] = True
        return Response(body)


# --- Console API ------------------------------------------------------------------------------


class FirstRendererNegotiation(BaseContentNegotiation):
    """The option value is plain text whatever the client accepts (Replicated ignored Accept)."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class ConsoleOptionView(APIView):
    required_scopes = {"GET": Scope.CONSOLE_READ}
    renderer_classes = [JSONRenderer]
    content_negotiation_class = FirstRendererNegotiation

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "name", str, required=True, pattern=NOT_BLANK, description="Option name"
            )
        ],
        responses={(200, "text/plain"): OpenApiTypes.STR, 400: OpenApiTypes.OBJECT},
    )
    def get(self, request):
        name = request.query_params.get("name", "").strip()
        if not name:
            raise exceptions.ParseError("The 'name' query parameter is required.")
        option = selectors.console_option_get(name=name)
        if option is None:
            raise exceptions.ParseError(f"Unknown console option {name!r}.")
        return HttpResponse(console_option_value(option), content_type="text/plain; charset=utf-8")


# --- Version API ------------------------------------------------------------------------------


def release_json(release: Release, *, install_date=None) -> dict[str, Any]:
    return {
        "version": release.version,
        "release_sequence": release.sequence,
        "release_notes": release.release_notes,
        "release_date": replicated_time(release.release_date),
        "install_date": replicated_time(install_date),
    }


def update_job_json(job: UpdateJob, *, after: int = 0) -> dict[str, Any]:
    lines = job.log_lines.filter(pk__gt=after).order_by("pk")
    return {
        "id": job.pk,
        "url": reverse("licensing:version-job", args=[job.pk]),
        "state": job.state,
        "progress": job.progress,
        "from_sequence": job.from_sequence,
        "target_sequence": job.target_sequence,
        "plan": job.plan,
        "requested_by": job.requested_by_name,
        "created_at": rfc3339(job.created_at),
        "started_at": rfc3339(job.started_at) if job.started_at else None,
        "finished_at": rfc3339(job.finished_at) if job.finished_at else None,
        "error": job.error,
        "log": [
            {"id": line.pk, "at": rfc3339(line.logged_at), "message": line.message}
            for line in lines
        ],
    }


class VersionCurrentView(ReplicatedJSONView):
    required_scopes = {"GET": Scope.VERSION_READ}

    @extend_schema(responses={200: OpenApiTypes.OBJECT, 404: OpenApiTypes.OBJECT})
    def get(self, request):
        installation = selectors.installation_get()
        if installation.current_release is None:
            raise exceptions.NotFound("No version is installed yet.")
        return Response(
            release_json(installation.current_release, install_date=installation.install_date)
        )


class VersionUpdatesView(ReplicatedJSONView):
    required_scopes = {"GET": Scope.VERSION_READ}

    @extend_schema(responses={200: JSON_ARRAY})
    def get(self, request):
        return Response(
            [
                {**release_json(release), "required": release.required}
                for release in selectors.releases_pending()
            ]
        )


class VersionApplyView(ReplicatedJSONView):
    required_scopes = {"PUT": Scope.VERSION_APPLY}

    @extend_schema(
        request=None,
        responses={
            202: OpenApiTypes.OBJECT,
            409: OpenApiResponse(ERROR_BODY, description="Another update is queued or running"),
        },
    )
    def put(self, request, sequence: int):
        try:
            job = update_apply_request(sequence=sequence, user=request.user)
        except UpdateError as exc:
            error = {
                403: exceptions.PermissionDenied,
                404: exceptions.NotFound,
                409: Conflict,
            }.get(exc.status, exceptions.ParseError)
            raise error(str(exc)) from exc
        body = update_job_json(job)
        return Response(body, status=202, headers={"Location": body["url"]})


class VersionJobView(ReplicatedJSONView):
    required_scopes = {"GET": Scope.VERSION_READ}

    @extend_schema(
        parameters=[OpenApiParameter("after", int, description="Only log lines after this id")],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request, job_id: int):
        job = selectors.update_jobs().filter(pk=job_id).first()
        if job is None:
            raise exceptions.NotFound(f"No update job {job_id}.")
        try:
            after = int(request.query_params.get("after", 0))
        except ValueError as exc:
            raise exceptions.ParseError("'after' must be a log line id (a whole number).") from exc
        return Response(update_job_json(job, after=after))


# --- Status API -------------------------------------------------------------------------------


class StartupStatusSerializer(serializers.Serializer):
    message = StrictCharField(allow_blank=True, max_length=10_000, trim_whitespace=False)
    severity = serializers.ChoiceField(choices=Severity.values, required=False)


class StatusStartupView(ReplicatedJSONView):
    required_scopes = {"PUT": Scope.STATUS_WRITE}

    @extend_schema(request=StartupStatusSerializer, responses={204: None})
    def put(self, request):
        serializer = StartupStatusSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        startup_status_report(
            message=serializer.validated_data["message"],
            severity=serializer.validated_data.get("severity", Severity.INFO),
        )
        return Response(status=204)
