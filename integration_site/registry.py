"""
The one registry through which apps contribute to the platform, as NetBox's
`netbox/registry.py`: one object with named stores, fixed when it is created. Each app fills
the stores from its `AppConfig.ready()`, so the platform never imports an app to learn what
it offers:

- `api_path_prefixes`: paths whose errors are JSON even outside DRF (`errors.is_api_path`);
- `demo_loaders`: name -> `loader(say)` creating an app's demo rows (`manage.py bootstrap`);
- `dashboard_panels`: `provider(request) -> Panel | None` for the admin front page;
- `admin_pages`: `admin_site.AdminPage` entries, pages that are views rather than models (the
  Updates page, the monitoring overview), listed in their app of the admin's app list and
  navigation sidebar;
- `periodic_jobs`: name -> `PeriodicTask`, enqueued by the worker (`schedule.periodic`);
- `worker_tick_hooks`: `fn()` run on every worker loop (`schedule.run_worker_tick_hooks`);
- `worker_threads`: `loop(stopping)` run in a thread of its own by every worker that runs the
  periodic jobs, until `stopping` (a threading.Event) is set: long-lived consumers, such as
  the Sensu transport's, that must not wait for a task slot. A loop decides for itself
  whether it has work (a setting turned off returns at once);
- `apidoc_resources`: name -> `build() -> dict`, a resource in the apipie document;
- `search_box_addons`: `addon(request, *, controller, query) -> html` after a search box;
- `token_tenancy_checks`: `check(project, environment)` raising ValidationError when an API
  token may not be given that tenancy (the audits app knows which projects exist);
- `secret_path_patterns`: compiled regexes whose group `secret` is a credential a peer
  protocol carries in a URL path; logs show it as `[redacted]` (`log_masking`).

Stores keep registration order, and registering the same thing twice is a no-op, so a
`ready()` that runs again (tests reload apps) adds nothing.
"""

import re
import threading
from collections.abc import Callable, Iterator
from typing import Any


class Contributions[T]:
    """An ordered set: contributions in registration order, each once."""

    def __init__(self) -> None:
        self._items: dict[T, None] = {}

    def add(self, *items: T) -> None:
        for item in items:
            self._items.setdefault(item, None)

    def discard(self, item: T) -> None:
        self._items.pop(item, None)

    def __iter__(self) -> Iterator[T]:
        # A copy, so a hook that registers another while the store is walked cannot break it.
        return iter(list(self._items))

    def __contains__(self, item: object) -> bool:
        return item in self._items

    def __len__(self) -> int:
        return len(self._items)


class Registry(dict[str, Any]):
    """Named stores; apps fill them, but no store can be added, replaced or removed."""

    def __getitem__(self, name: str) -> Any:
        try:
            return super().__getitem__(name)
        except KeyError:
            raise KeyError(f"No registry store named {name!r}.") from None

    def __setitem__(self, name: str, value: Any) -> None:
        raise TypeError("Registry stores are fixed; add to a store instead of replacing it.")

    def __delitem__(self, name: str) -> None:
        raise TypeError("Registry stores are fixed and cannot be removed.")


registry = Registry(
    api_path_prefixes=Contributions[str](),
    demo_loaders=dict[str, Callable[[Callable[[str], None]], None]](),
    dashboard_panels=Contributions[Callable[..., Any]](),
    admin_pages=Contributions[Any](),
    periodic_jobs=dict[str, Any](),
    worker_tick_hooks=Contributions[Callable[[], None]](),
    worker_threads=Contributions[Callable[[threading.Event], None]](),
    apidoc_resources=dict[str, Callable[[], dict]](),
    search_box_addons=Contributions[Callable[..., str]](),
    token_tenancy_checks=Contributions[Callable[[str, str], None]](),
    secret_path_patterns=Contributions[re.Pattern[str]](),
)
