"""The source registry: one declaration registers a source; third-party packages use an entry point."""

from __future__ import annotations

import importlib
import pkgutil
from importlib.metadata import entry_points
from pathlib import Path
from typing import TypeVar

from pipelines.sources.base import Source

ENTRY_POINT_GROUP = "research_commons.sources"
# Every module in pipelines/sources/ is imported, so a built-in source registers by its @register alone.
_HELPER_MODULES = {"base", "registry", "contract", "scaffold"}

_REGISTRY: dict[str, Source] = {}
_loaded = False

S = TypeVar("S", bound=type[Source])


def register(cls: S) -> S:
    """Class decorator: register one instance of the source under its ``name``."""
    name = cls.name
    existing = _REGISTRY.get(name)
    if existing is not None and type(existing) is not cls:
        raise ValueError(
            f"two sources are registered as {name!r}: {type(existing).__module__} and {cls.__module__}"
        )
    _REGISTRY[name] = cls()
    return cls


def _load() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    import pipelines.sources as package

    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if info.name not in _HELPER_MODULES and not info.name.startswith("_"):
            importlib.import_module(f"pipelines.sources.{info.name}")
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        loaded = ep.load()
        if isinstance(loaded, type) and issubclass(loaded, Source) and loaded.name not in _REGISTRY:
            register(loaded)


def unregister(name: str) -> None:
    """Remove a source (for tests that load a scaffolded source from a temporary folder)."""
    _REGISTRY.pop(name, None)


def all_sources() -> dict[str, Source]:
    _load()
    return dict(sorted(_REGISTRY.items()))


def get_source(name: str) -> Source:
    sources = all_sources()
    try:
        return sources[name]
    except KeyError:
        raise KeyError(f"no source named {name!r}; registered: {', '.join(sources)}") from None


HEAD_BYTES = 4096


def detect_source(path: Path) -> Source | None:
    """The source that recognises a local file from its name and first bytes, if any."""
    with path.open("rb") as fh:
        head = fh.read(HEAD_BYTES)
    if head[:2] == b"\x1f\x8b":
        import gzip

        try:
            with gzip.open(path, "rb") as gz:
                head = gz.read(HEAD_BYTES)
        except (OSError, EOFError):
            return None
    for source in all_sources().values():
        if source.recognizes(path.name, head):
            return source
    return None
