import pytest

pytestmark = pytest.mark.browser


def test_admin_login_in_chromium(admin_page, live_server):
    assert admin_page.title().startswith("Console")
    assert "Integration Site" in admin_page.inner_text("#site-name")
    # The token admin is reachable from the dashboard.
    admin_page.click("text=API tokens")
    assert admin_page.url.endswith("/admin/integration_site/apitoken/")
