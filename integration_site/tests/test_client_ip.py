import pytest
from django.test import RequestFactory

from integration_site.client_ip import client_ip


@pytest.fixture
def request_from():
    factory = RequestFactory()

    def make(remote: str, forwarded: str | None = None):
        extra = {"REMOTE_ADDR": remote}
        if forwarded is not None:
            extra["HTTP_X_FORWARDED_FOR"] = forwarded
        return factory.get("/", **extra)

    return make


def test_forwarded_for_is_ignored_without_configured_proxies(request_from, settings):
    settings.TRUSTED_PROXIES, settings.TRUSTED_PROXY_COUNT = [], 0
    assert client_ip(request_from("192.0.2.10", "203.0.113.5")) == "192.0.2.10"


def test_spoofed_forwarded_for_from_untrusted_peer_is_ignored(request_from, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    assert client_ip(request_from("192.0.2.10", "203.0.113.5")) == "192.0.2.10"


def test_trusted_proxy_chain_is_unwrapped_to_first_untrusted_hop(request_from, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    # The client forged the first entry; the proxies appended the real ones.
    request = request_from("10.0.0.2", "1.1.1.1, 198.51.100.7, 10.0.0.1")
    assert client_ip(request) == "198.51.100.7"


def test_garbage_in_forwarded_for_falls_back_to_nearest_trusted_hop(request_from, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    assert client_ip(request_from("10.0.0.2", "not-an-ip")) == "10.0.0.2"


def test_proxy_count_picks_the_hop_before_our_proxies(request_from, settings):
    settings.TRUSTED_PROXIES, settings.TRUSTED_PROXY_COUNT = [], 1
    assert client_ip(request_from("10.0.0.2", "1.1.1.1, 198.51.100.7")) == "198.51.100.7"
    settings.TRUSTED_PROXY_COUNT = 3
    assert client_ip(request_from("10.0.0.2", "198.51.100.7")) == "10.0.0.2"
