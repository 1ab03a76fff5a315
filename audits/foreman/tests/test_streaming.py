"""Big Foreman pages are streamed from a server-side cursor, byte for byte what the built
page renders, with taxonomies prefetched per chunk."""

import pytest
from rest_framework.renderers import JSONRenderer

from audits.foreman import pagination
from audits.foreman.serializers import AuditSerializer, HostSerializer
from audits.models import AuditEvent, Host, Location, Organization
from audits.services import audit_event_build, audit_events_append

pytestmark = pytest.mark.django_db


@pytest.fixture
def reader(token_client):
    return token_client("audit:read")


def built_page(body: dict, results: list) -> bytes:
    """Today's answer: the envelope rendered whole by DRF's JSONRenderer."""
    return JSONRenderer().render(
        {**{k: v for k, v in body.items() if k != "results"}, "results": results}
    )


def test_a_big_host_page_is_streamed_and_equals_the_built_page(reader, monkeypatch):
    monkeypatch.setattr(pagination, "STREAM_CHUNK", 50)
    berlin = Location.objects.create(name="Berlin")
    Host.objects.bulk_create(
        Host(name=f"host{n:03}.example.com", comment="ünïcode \u2028", location=berlin)
        for n in range(120)
    )
    response = reader.get("/api/hosts", {"per_page": 500, "search": "name ~ host"})
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == "application/json"
    body = b"".join(response.streaming_content)
    hosts = Host.objects.select_related("location", "organization").order_by("name", "id")
    expected = built_page(
        {
            "total": 120,
            "subtotal": 120,
            "page": 1,
            "per_page": 500,
            "search": "name ~ host",
            "sort": {"by": None, "order": None},
        },
        HostSerializer(hosts, many=True).data,
    )
    assert body == expected


def test_a_big_audit_page_streams_with_its_taxonomies(reader, monkeypatch):
    monkeypatch.setattr(pagination, "STREAM_CHUNK", 30)
    acme = Organization.objects.create(name="ACME")
    host = Host.objects.create(name="web1.example.com", organization=acme)
    for _ in range(40):
        host.comment = f"{host.comment}x"
        host.save()
    audit_events_append([audit_event_build(action=f"app.{n}") for n in range(30)])
    response = reader.get("/api/audits", {"per_page": "all"})
    assert response.streaming
    events = AuditEvent.objects.prefetch_related("locations", "organizations").order_by(
        "-created_at", "-id"
    )
    count = events.count()
    expected = built_page(
        {
            "total": count,
            "subtotal": count,
            "page": 1,
            "per_page": count,
            "search": None,
            "sort": {"by": None, "order": None},
        },
        AuditSerializer(events, many=True).data,
    )
    assert b"".join(response.streaming_content) == expected
    assert b'"organizations":[{"id":%d' % acme.pk in expected


def test_a_small_page_is_built_as_before(reader):
    Host.objects.bulk_create(Host(name=f"h{n}") for n in range(3))
    response = reader.get("/api/hosts", {"per_page": 2})
    assert not response.streaming and len(response.json()["results"]) == 2
