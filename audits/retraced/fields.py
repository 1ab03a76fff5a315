"""Serializer fields of the Retraced viewer and enterprise bodies."""

from datetime import UTC, datetime

from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

# Retraced reads anything past the year 3000 as micro- or nanoseconds; before 1970 no event
# exists. Bounding times here also keeps their conversion to UTC in range.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(3000, 1, 1, tzinfo=UTC)
LATEST_MS = int(LATEST.timestamp() * 1000)


def iso_time_parse(value) -> datetime | None:
    """An ISO 8601 time with its UTC offset, between 1970 and 3000; None otherwise."""
    try:
        parsed = parse_datetime(value) if isinstance(value, str) else None
    except ValueError:
        return None
    if parsed is None or parsed.tzinfo is None:
        return None
    try:
        in_range = EARLIEST <= parsed.astimezone(UTC) < LATEST
    except OverflowError:
        return None
    return parsed if in_range else None


@extend_schema_field(OpenApiTypes.DATETIME)
class IsoTimeField(serializers.Field):
    """An ISO 8601 time with its offset (the enterprise saved search's `start`)."""

    def to_internal_value(self, data):
        parsed = iso_time_parse(data)
        if parsed is None:
            raise serializers.ValidationError(
                "Expected an ISO 8601 time with its offset, from 1970 to 3000."
            )
        return parsed

    def to_representation(self, value):
        return value.isoformat()


@extend_schema_field({"oneOf": [{"type": "integer"}, {"type": "string", "format": "date-time"}]})
class ExportTimeField(serializers.Field):
    """
    logs-viewer's startTime/endTime: milliseconds since the epoch, or an ISO 8601 string,
    stored as sent (the export body is Retraced's query descriptor).
    """

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | float | str):
            raise serializers.ValidationError("Expected milliseconds or an ISO 8601 time.")
        if isinstance(data, str):
            if iso_time_parse(data) is None:
                raise serializers.ValidationError(
                    "Expected an ISO 8601 time with its offset, from 1970 to 3000."
                )
        elif not 0 <= data < LATEST_MS:
            raise serializers.ValidationError("Milliseconds out of range (1970 to 3000).")
        return data

    def to_representation(self, value):
        return value
