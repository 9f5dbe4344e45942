"""``commons new-source NAME``: a working skeleton for a new source, its tests and its fixtures folder."""

from __future__ import annotations

import re
from importlib.resources import files
from pathlib import Path

from pipelines.settings import PROJECT_ROOT

_NAME = re.compile(r"^[a-z][a-z0-9_]{1,40}$")


def _render(template: str, name: str) -> str:
    text = files("pipelines.sources").joinpath("templates", template).read_text(encoding="utf-8")
    words = name.split("_")
    return text.format(
        name=name,
        title=" ".join(w.capitalize() for w in words),
        class_name="".join(w.capitalize() for w in words) + "Source",
        env=name.upper(),
    )


def scaffold_source(name: str, root: Path = PROJECT_ROOT) -> list[Path]:
    """Write the module, test file and fixtures README for source ``name``; refuses to overwrite."""
    if not _NAME.match(name):
        raise ValueError(f"source name {name!r} must be lower_snake_case, 2 to 41 characters")
    targets = {
        root / "pipelines" / "sources" / f"{name}.py": "source.py.tmpl",
        root / "tests" / f"test_source_{name}.py": "test_source.py.tmpl",
        root / "tests" / "fixtures" / name / "README.md": "fixtures_README.md.tmpl",
    }
    existing = [p for p in targets if p.exists()]
    if existing:
        raise FileExistsError(f"already exists, not overwritten: {', '.join(str(p) for p in existing)}")
    for path, template in targets.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_render(template, name), encoding="utf-8")
    return list(targets)
