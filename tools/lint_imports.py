"""Check the import layers (``[tool.importlinter]`` in pyproject.toml) with import-linter.

    .venv/bin/python tools/lint_imports.py        # or: make lint-imports

The contracts are read from pyproject.toml and checked against the packages staged as a wheel installs
them (packaging/stage.py): an editable install maps ``runtime/`` and ``nodeeditor/`` to ``layerloom``
through an import hook that the linter's folder walk does not follow. Exit status is import-linter's:
0 when every contract holds.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "packaging"))

from stage import stage_packages  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    with tempfile.TemporaryDirectory(prefix="layerloom-lint-") as folder:
        staged = stage_packages(Path(folder) / "site")
        env = dict(os.environ, PYTHONPATH=str(staged))
        lint = Path(sys.executable).with_name("lint-imports")
        command = [str(lint)] if lint.exists() else [sys.executable, "-m", "importlinter.cli"]
        return subprocess.run([*command, str(ROOT / "pyproject.toml"), "--no-cache",
                               *(argv if argv is not None else sys.argv[1:])], cwd=folder, env=env).returncode


if __name__ == "__main__":
    sys.exit(main())
