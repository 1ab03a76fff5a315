"""
Demo data for a fresh install. Each app registers a loader from its AppConfig.ready();
`manage.py bootstrap` runs them in order on an empty database only, so re-runs add nothing.
"""

from collections.abc import Callable

_loaders: list[tuple[str, Callable[[Callable[[str], None]], None]]] = []


def register_demo_loader(name: str, loader: Callable[[Callable[[str], None]], None]) -> None:
    """`loader(say)` creates the app's demo rows; `say(line)` prints to the operator."""
    if name not in {n for n, _ in _loaders}:
        _loaders.append((name, loader))


def demo_loaders() -> list[tuple[str, Callable[[Callable[[str], None]], None]]]:
    return list(_loaders)
