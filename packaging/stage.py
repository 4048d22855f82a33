"""The packages laid out as a wheel installs them, from the folders of a checkout.

``pyproject.toml`` maps folders to import names (``runtime/`` is ``layerloom``, ``nodeeditor/`` is
``layerloom.nodeeditor``, ``resources/`` is ``layerloom_resources``). An editable install serves that
mapping through an import hook, which tools that walk folders (the import-linter, PyInstaller) do not
follow; they are pointed at a staged copy instead:

    from stage import stage_packages
    stage_packages(Path("build/stage"))     # build/stage/layerloom/nodeeditor/... , build/stage/layerloom_resources/...
"""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def package_dirs(root: Path = ROOT) -> dict[str, Path]:
    """Import name -> folder, from pyproject.toml's ``[tool.setuptools.package-dir]``."""
    config = tomllib.loads((root / "pyproject.toml").read_text())
    return {name: root / folder for name, folder in config["tool"]["setuptools"]["package-dir"].items()}


def stage_packages(dest: Path, root: Path = ROOT) -> Path:
    """Copy every mapped package into ``dest`` under its import name (parents before children) and
    return ``dest``; what was there before is replaced."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name, folder in sorted(package_dirs(root).items(), key=lambda item: item[0].count(".")):
        shutil.copytree(folder, dest.joinpath(*name.split(".")), ignore=ignore, dirs_exist_ok=True)
    return dest


if __name__ == "__main__":  # pragma: no cover
    import sys
    print(stage_packages(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "build" / "stage"))
