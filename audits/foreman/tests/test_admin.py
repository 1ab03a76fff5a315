"""The admin pages of hosts, locations and organizations."""

import pytest

from audits.models import HOST_TYPE, Host, Location

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


def test_a_hosts_audits_link_lists_that_hosts_audits_only(signed_in):
    paris = Location.objects.create(name="Paris")
    web = Host.objects.create(name="web1.example.com", location=paris)
    Host.objects.create(name="db1.example.com", location=paris)
    web.comment = "rebooted"
    web.save()
    listing = signed_in.get("/admin/audits/host/").content.decode()
    link = f"?target_type__exact=Host%3A%3ABase&amp;target_id={web.pk}"
    assert f'{link}" aria-label="Audits of web1.example.com">Audits</a>' in listing
    # The host's own page links there too.
    assert link in signed_in.get(f"/admin/audits/host/{web.pk}/change/").content.decode()
    audits = signed_in.get(
        "/admin/audits/auditevent/", {"target_type__exact": HOST_TYPE, "target_id": web.pk}
    )
    events = list(audits.context["cl"].result_list)
    assert [(e.action, e.target_name) for e in events] == [
        ("update", "web1.example.com"),
        ("create", "web1.example.com"),
    ]


def test_a_locations_audits_link_searches_its_events(signed_in):
    paris = Location.objects.create(name="Paris")
    berlin = Location.objects.create(name="Berlin")
    Host.objects.create(name="web1.example.com", location=paris)
    Host.objects.create(name="db1.example.com", location=berlin)
    listing = signed_in.get("/admin/audits/location/").content.decode()
    assert f'?q=location_id+%3D+{paris.pk}" aria-label="Audits of Paris">Audits</a>' in listing
    audits = signed_in.get("/admin/audits/auditevent/", {"q": f"location_id = {paris.pk}"})
    names = {e.target_name for e in audits.context["cl"].result_list}
    assert names == {"Paris", "web1.example.com"}
    assert signed_in.get("/admin/audits/location/add/").status_code == 200
