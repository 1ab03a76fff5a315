"""
Hostile input that once answered 500 (issue 14, §5): each class gets a clear 4xx naming the
problem, in the error shape of the route's peer (Foreman's, Sensu's or ours), on every route
the black-box run found it on.
"""

import pytest

from audits.models import Host
from monitoring.models import Stash

pytestmark = pytest.mark.django_db

HUGE = "9999999999999999999"  # past a signed 64-bit integer: PostgreSQL's "bigint out of range"


@pytest.fixture
def reader(token_client):
    return token_client("audit:read", "monitoring:read")


@pytest.mark.parametrize(
    "path",
    [
        "/api/audits",
        "/api/hosts",
        "/api/locations",
        "/api/organizations",
        "/api/bookmarks",
        "/api/hosts/web1.example.com/audits",
    ],
)
def test_foreman_page_past_any_row_is_foreman_400(reader, path):
    Host.objects.create(name="web1.example.com")
    response = reader.get(path, {"page": HUGE})
    assert response.status_code == 400, response.content
    assert "page" in response.json()["error"]["message"]
    # The page fits, but (page - 1) * per_page lies past 2^63.
    response = reader.get(path, {"page": str(2**62), "per_page": 4294967296})
    assert response.status_code == 400 and "page" in response.json()["error"]["message"]
    # A page inside the range but past the end is an empty page, as in Foreman.
    response = reader.get(path, {"page": "1000000"})
    assert response.status_code == 200 and response.json()["results"] == []


def test_foreman_fetch_all_per_page_still_works(reader):
    Host.objects.create(name="web1.example.com")
    for per_page in ("4294967296", HUGE, "9" * 5000):
        response = reader.get("/api/hosts", {"per_page": per_page})
        assert response.status_code == 200 and len(response.json()["results"]) == 1


@pytest.mark.parametrize(
    "path", ["/events", "/clients", "/checks", "/results", "/silenced", "/stashes"]
)
@pytest.mark.parametrize("param", ["limit", "offset", "both", "long"])
def test_sensu_limit_and_offset_past_any_row_clamp_like_sensu(reader, path, param):
    query = {
        "limit": {"limit": HUGE},
        "offset": {"limit": "1", "offset": HUGE},
        "both": {"limit": HUGE, "offset": HUGE},
        "long": {"limit": "9" * 5000, "offset": "9" * 5000},
    }[param]
    response = reader.get(path, query)
    assert response.status_code == 200, response.content
    # Sensu: a limit past the end is everything, an offset past the end is [].
    assert response.json() == [] and "X-Pagination" in response


def test_sensu_limit_past_the_end_is_everything(reader):
    Stash.objects.create(path="a/b", content={"k": 1})
    response = reader.get("/stashes", {"limit": HUGE})
    assert [stash["path"] for stash in response.json()] == ["a/b"]
    assert response["X-Pagination"] == f'{{"limit":{2**63 - 1},"offset":0,"total":1}}'
