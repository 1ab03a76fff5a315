"""
The apipie description (`/apidoc/v2.json`) of the Foreman-compatible API, in the shape apypie
reads: docs.resources.<name>.methods[] with apis[], params[] and metadata.search. Built from
the same field map the parser uses, so the documented search fields cannot drift.

The builder is public, for resources other apps serve under /api (bookmarks), which they
contribute through `registry["apidoc_resources"]` (see `apidoc`):

- `apipie_param(name, description, *, expected_type, validator, required)`: one parameter;
- `apipie_method(resource, name, apis, params, metadata, *, http_method)`: one action, with
  its `(url, short description)` pairs;
- `apipie_resource(name, title, methods)`: one resource;
- `INDEX_PARAMS`: the parameters of every index action (taxonomy context, `search`,
  `order`, `page`, `per_page`); `ID_PARAM`: the `id` of show, update and destroy.

`apidoc_checksum()` is the document's digest, sent as `Apipie-Checksum` on every response.
"""

import hashlib
import json
from collections.abc import Callable
from functools import cache

from audits.search.fields import AUDIT_SEARCH_SCHEMA, FOREMAN_FIELD_NAMES
from audits.search.schema import FieldKind
from integration_site.registry import registry

_DOC_URL = "/apidoc/v2"


def apipie_param(
    name: str,
    description: str,
    *,
    expected_type: str = "string",
    validator: str = "Must be a String",
    required: bool = False,
) -> dict:
    return {
        "name": name,
        "full_name": name,
        "description": f"<p>{description}</p>",
        "required": required,
        "allow_nil": False,
        "allow_blank": False,
        "validator": validator,
        "expected_type": expected_type,
        "metadata": None,
        "show": True,
        "validations": [],
    }


_TAXONOMY_PARAMS = [
    apipie_param(
        "location_id",
        "Set the current location context for the request",
        expected_type="numeric",
        validator="Must be a Integer",
    ),
    apipie_param(
        "organization_id",
        "Set the current organization context for the request",
        expected_type="numeric",
        validator="Must be a Integer",
    ),
]

INDEX_PARAMS = [
    *_TAXONOMY_PARAMS,
    apipie_param("search", "filter results"),
    apipie_param("order", 'Sort field and order, eg. "id DESC"'),
    apipie_param(
        "page",
        "Page number, starting at 1",
        expected_type="numeric",
        validator="Must be a number.",
    ),
    apipie_param(
        "per_page",
        "Number of results per page to return, 'all' to return all results",
        validator="Must match regular expression <code>/\\A([1-9]\\d*|all)\\Z$/</code>.",
    ),
]

ID_PARAM = apipie_param(
    "id",
    "",
    validator=(
        "Must be an identifier, string from 1 to 128 characters containing only alphanumeric "
        "characters, space, underscore(_), hypen(-) with no leading or trailing space."
    ),
    required=True,
)


def apipie_method(
    resource: str,
    name: str,
    apis: list[tuple[str, str]],
    params,
    metadata=None,
    *,
    http_method: str = "GET",
) -> dict:
    return {
        "doc_url": f"{_DOC_URL}/{resource}/{name}",
        "name": name,
        "apis": [
            {
                "api_url": url,
                "http_method": http_method,
                "short_description": text,
                "deprecated": None,
            }
            for url, text in apis
        ],
        "formats": None,
        "full_description": "",
        "errors": [],
        "params": params,
        "examples": [],
        "metadata": metadata,
        "see": [],
        "headers": [],
        "show": True,
    }


def apipie_resource(name: str, title: str, methods: list[dict]) -> dict:
    return {
        "doc_url": f"{_DOC_URL}/{name}",
        "id": name,
        "api_url": "/api",
        "name": title,
        "short_description": None,
        "full_description": None,
        "version": "v2",
        "formats": None,
        "metadata": None,
        "methods": methods,
        "headers": [],
        "deprecated": False,
    }


def search_metadata() -> list[dict]:
    """Foreman's `add_scoped_search_description_for`: {name, type} or {name, values}."""
    entries = []
    for name in FOREMAN_FIELD_NAMES:
        search_field = AUDIT_SEARCH_SCHEMA.get(name)
        if search_field.kind is FieldKind.SET:
            entries.append({"name": name, "values": list(search_field.values)})
        else:
            entries.append({"name": name, "type": str(search_field.kind)})
    return entries


def _crud(resource: str, plural: str, singular: str, extra_index: list | None = None) -> dict:
    return apipie_resource(
        resource,
        resource.capitalize(),
        [
            apipie_method(
                resource,
                "index",
                [(f"/api/{resource}", f"List all {plural}")],
                INDEX_PARAMS,
            ),
            apipie_method(
                resource,
                "show",
                [(f"/api/{resource}/:id", f"Show a {singular}")],
                [*_TAXONOMY_PARAMS, ID_PARAM],
            ),
        ],
    )


def apidoc() -> dict:
    """
    The apipie document. Resources other apps serve under /api (bookmarks) come from
    `registry["apidoc_resources"]` (name -> `build()`), filled from their AppConfig.ready() so
    that this module never imports them.
    """
    return _apidoc(tuple(sorted(registry["apidoc_resources"].items())))


@cache
def _apidoc(contributed: tuple[tuple[str, Callable[[], dict]], ...]) -> dict:
    audits = apipie_resource(
        "audits",
        "Audits",
        [
            apipie_method(
                "audits",
                "index",
                [
                    ("/api/audits", "List all audits"),
                    ("/api/hosts/:host_id/audits", "List all audits for a given host"),
                ],
                [*INDEX_PARAMS, apipie_param("host_id", "ID or name of the host")],
                metadata={"search": search_metadata()},
            ),
            apipie_method(
                "audits",
                "show",
                [("/api/audits/:id", "Show an audit")],
                [*_TAXONOMY_PARAMS, ID_PARAM],
            ),
        ],
    )
    home = apipie_resource(
        "home",
        "Home",
        [
            apipie_method("home", "status", [("/api/status", "Show status")], []),
        ],
    )
    return {
        "docs": {
            "name": "Integration Site (Foreman-compatible API v2)",
            "info": "The subset of Foreman's API v2 this site serves: audits, bookmarks, hosts, locations, organizations and status.",
            "copyright": "",
            "doc_url": _DOC_URL,
            "api_url": "/api",
            "resources": {
                "audits": audits,
                "home": home,
                "hosts": _crud("hosts", "hosts", "host"),
                "locations": _crud("locations", "locations", "location"),
                "organizations": _crud("organizations", "organizations", "organization"),
                **{name: build() for name, build in contributed},
            },
            "link_extension": ".html",
        }
    }


@cache
def apidoc_checksum() -> str:
    return hashlib.md5(json.dumps(apidoc(), sort_keys=True).encode()).hexdigest()
