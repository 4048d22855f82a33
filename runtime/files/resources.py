"""Files shipped with LayerLoom (example graphs, icons...), found through importlib.resources so
they work from a source checkout, an installed wheel and a bundled app alike.

An example's display name is its graph's own ``name`` (``example_title``): the Examples menu, the
welcome gallery and the window title all say it, so they can never disagree.
"""

from __future__ import annotations

from importlib import resources as _resources
from pathlib import Path

from layerloom.core.errors import LayerLoomError
from layerloom.files.graphfile import SUFFIX, parse_json, read_file_text


def resource_root() -> Path:
    return Path(str(_resources.files("layerloom_resources")))


def examples_dir() -> Path:
    return resource_root() / "examples"


def example_paths() -> list[Path]:
    """The example graphs, sorted by file name."""
    return sorted(examples_dir().glob(f"*{SUFFIX}"))


def example_stem(path: str | Path) -> str:
    """``.../digits_cnn.llgraph.json`` -> ``"digits_cnn"``: the name ``example_path`` takes."""
    name = Path(path).name
    return name[: -len(SUFFIX)] if name.endswith(SUFFIX) else Path(name).stem


def example_path(stem: str) -> Path:
    """The example called ``stem`` (e.g. ``"digits_mlp"``)."""
    path = examples_dir() / f"{stem}{SUFFIX}"
    if not path.is_file():
        names = ", ".join(example_stem(p) for p in example_paths())
        raise FileNotFoundError(f"no example {stem!r}; available: {names}")
    return path


def example_title(path: str | Path) -> str:
    """An example's display name: its graph's ``name`` (``"Digits CNN"``), read from the file's header
    without building the graph; the file name made readable when the file has none or cannot be read."""
    try:
        data = parse_json(read_file_text(path), str(path))
    except LayerLoomError:
        data = None
    name = data.get("name") if isinstance(data, dict) else None
    if isinstance(name, str) and name.strip():
        return name.strip()
    return example_stem(path).replace("_", " ").capitalize()


def example_titles() -> list[tuple[str, Path]]:
    """``(display name, path)`` of every example, in file-name order: what a menu or a gallery lists."""
    return [(example_title(path), path) for path in example_paths()]
