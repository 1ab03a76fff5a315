"""
Foreman's record shapes: the audit (api/v2/audits/main.json.rabl), hosts, locations and
organizations, with times as Foreman renders them.
"""

from datetime import UTC

from rest_framework import serializers

from audits.foreman.ids import is_decimal_id
from audits.models import AuditEvent, Host, Location, Organization


def _int_or_text(value: str):
    """Foreman ids are integers; ours may be any string an integration sent."""
    if not value:
        return None
    return int(value) if is_decimal_id(value) and len(value) < 19 else value


def foreman_time(value) -> str | None:
    # Ruby's Time#to_s in UTC, as Foreman renders created_at.
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if value else None


class TaxonomySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    title = serializers.CharField()
    description = serializers.CharField(allow_null=True)


class AuditSerializer(serializers.Serializer):
    """Foreman's audit record (api/v2/audits/main.json.rabl), keys in its order."""

    def to_representation(self, event: AuditEvent) -> dict:
        is_user = event.actor_type == "User"
        return {
            "user_id": _int_or_text(event.actor_id),
            # Foreman renders null (its user association is not polymorphic); we say which
            # kind of actor it was when it was not a user account.
            "user_type": None if is_user or not event.actor_type else event.actor_type,
            "user_name": event.actor_name or None,
            "version": event.version,
            "comment": event.comment or None,
            "associated_id": _int_or_text(event.associated_id),
            "associated_type": event.associated_type or None,
            "remote_address": event.remote_address,
            "associated_name": event.associated_name or None,
            "created_at": foreman_time(event.created_at),
            "request_uuid": event.request_uuid or None,
            "id": event.id,
            "auditable_id": _int_or_text(event.target_id),
            "auditable_name": event.target_name or None,
            "auditable_type": event.target_type or None,
            "action": event.action,
            "audited_changes": event.audited_changes,
            "locations": TaxonomySerializer(event.locations.all(), many=True).data,
            "organizations": TaxonomySerializer(event.organizations.all(), many=True).data,
        }


class LocationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Location
        fields = ["id", "name", "title", "description"]


class OrganizationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Organization
        fields = ["id", "name", "title", "description"]


class HostSerializer(serializers.ModelSerializer):
    location_name = serializers.CharField(source="location.name", default=None, read_only=True)
    organization_name = serializers.CharField(
        source="organization.name", default=None, read_only=True
    )
    created_at = serializers.SerializerMethodField()
    updated_at = serializers.SerializerMethodField()

    class Meta:
        model = Host
        fields = [
            "id",
            "name",
            "ip",
            "mac",
            "comment",
            "location_id",
            "location_name",
            "organization_id",
            "organization_name",
            "created_at",
            "updated_at",
        ]

    def get_created_at(self, host) -> str | None:
        return foreman_time(host.created_at)

    def get_updated_at(self, host) -> str | None:
        return foreman_time(host.updated_at)
