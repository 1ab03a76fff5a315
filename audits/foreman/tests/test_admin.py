"""The admin pages of hosts, locations and organizations."""

import pytest

from audits.models import Host, Location

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed_in(client, superuser):
    client.force_login(superuser)
    return client


def test_host_location_organization_admin_pages(signed_in):
    Host.objects.create(name="db1.example.com", location=Location.objects.create(name="Paris"))
    for path in ("/admin/audits/host/", "/admin/audits/location/", "/admin/audits/organization/"):
        assert signed_in.get(path).status_code == 200
    assert b"db1.example.com" in signed_in.get("/admin/audits/host/").content
