"""Files shipped with LayerLoom (example graphs, icons...), found through importlib.resources so
they work from a source checkout, an installed wheel and a bundled app alike."""

from __future__ import annotations

from importlib import resources as _resources
from pathlib import Path

from layerloom.files.graphfile import SUFFIX


def resource_root() -> Path:
    return Path(str(_resources.files("layerloom_resources")))


def examples_dir() -> Path:
    return resource_root() / "examples"


def example_paths() -> list[Path]:
    """The example graphs, sorted by file name."""
    return sorted(examples_dir().glob(f"*{SUFFIX}"))


def example_path(stem: str) -> Path:
    """The example called ``stem`` (e.g. ``"digits_mlp"``)."""
    path = examples_dir() / f"{stem}{SUFFIX}"
    if not path.is_file():
        names = ", ".join(p.name[: -len(SUFFIX)] for p in example_paths())
        raise FileNotFoundError(f"no example {stem!r}; available: {names}")
    return path
