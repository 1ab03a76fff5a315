"""The one registry: fixed named stores that apps fill from their AppConfig.ready()."""

import logging

import pytest

from integration_site import schedule
from integration_site.errors import is_api_path
from integration_site.registry import Contributions, registry


def test_stores_are_fixed_and_unknown_names_are_named_in_the_error():
    with pytest.raises(TypeError):
        registry["api_path_prefixes"] = Contributions()
    with pytest.raises(TypeError):
        del registry["demo_loaders"]
    with pytest.raises(KeyError, match="no_such_store"):
        registry["no_such_store"]


def test_contributions_keep_registration_order_and_ignore_repeats():
    store = Contributions[str]()
    store.add("b", "a")
    store.add("b")
    assert list(store) == ["b", "a"]
    assert "a" in store
    assert len(store) == 2


def test_every_app_contributes_its_demo_data_in_installed_apps_order():
    assert list(registry["demo_loaders"]) == [
        "identity",
        "audit trail",
        "saved searches",
        "licensing and updates",
        "monitoring",
        "monitoring history",
    ]


@pytest.mark.parametrize(
    "path",
    [
        *("/health", "/api/audits", "/audit/v1/event", "/license/v1/license"),
        *("/identity/v1/login", "/console/v1/option", "/events", "/results", "/settings"),
    ],
)
def test_api_paths_contributed_by_the_platform_and_each_app_get_json_errors(path):
    assert is_api_path(path)


@pytest.mark.parametrize("path", ["/admin/", "/", "/static/x.css", "/apiary"])
def test_console_pages_are_not_api_paths(path):
    assert not is_api_path(path)


@pytest.mark.django_db
def test_worker_tick_hooks_run_and_a_failing_hook_does_not_stop_the_others(caplog):
    ran = []

    def broken():
        raise RuntimeError("boom")

    def counts():
        ran.append(1)

    registry["worker_tick_hooks"].add(broken, counts, broken)  # twice: still once
    try:
        with caplog.at_level(logging.ERROR):
            schedule.run_worker_tick_hooks()
    finally:
        registry["worker_tick_hooks"].discard(broken)
        registry["worker_tick_hooks"].discard(counts)
    assert ran == [1]
    assert caplog.text.count("RuntimeError: boom") == 1
