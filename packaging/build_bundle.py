"""Build the one-folder bundle dist/LayerLoom/ with PyInstaller (``make bundle``).

Installs PyInstaller into the running interpreter's environment when it is missing (with the
repository's constraints.txt, so torch stays the pinned CPU build), runs it on
packaging/layerloom.spec, and prints where the bundle is, its size and how long the build took.

    .venv/bin/python packaging/build_bundle.py [--clean]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "packaging" / "layerloom.spec"
DIST = ROOT / "dist"
WORK = ROOT / "build" / "pyinstaller"
BUNDLE = DIST / "LayerLoom"
PYINSTALLER = "pyinstaller>=6.10"


def folder_bytes(path: Path) -> int:
    """What ``du`` would add up: every regular file once (links not followed)."""
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            file = Path(dirpath) / name
            if not file.is_symlink():
                total += file.stat().st_size
    return total


def executable(bundle: Path = BUNDLE) -> Path:
    """The bundle's program: ``layerloom`` on Linux, ``LayerLoom.exe`` on Windows, ``LayerLoom`` on macOS."""
    if sys.platform == "win32":
        return bundle / "LayerLoom.exe"
    if sys.platform == "darwin":
        return bundle / "LayerLoom"
    return bundle / "layerloom"


def ensure_pyinstaller() -> None:
    if importlib.util.find_spec("PyInstaller") is not None:
        return
    print(f"build_bundle: installing {PYINSTALLER} into {sys.prefix}", flush=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "-c", str(ROOT / "constraints.txt"),
                    PYINSTALLER], check=True)


def add_desktop_files(bundle: Path) -> None:
    """packaging/linux/ into the bundle as linux/: whoever unpacks the bundle runs
    ``LayerLoom/linux/install-desktop.sh`` to get the launcher, icons and file type."""
    target = bundle / "linux"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(ROOT / "packaging" / "linux", target)


def build(clean: bool = False) -> int:
    ensure_pyinstaller()
    command = [sys.executable, "-m", "PyInstaller", str(SPEC), "--noconfirm", "--log-level", "WARN",
               "--distpath", str(DIST), "--workpath", str(WORK)]
    if clean:
        command.append("--clean")
    print("build_bundle: " + " ".join(command), flush=True)
    began = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT)
    seconds = time.perf_counter() - began
    if done.returncode != 0:
        print(f"build_bundle: PyInstaller failed (exit {done.returncode}) after {seconds:.0f} s", file=sys.stderr)
        return done.returncode
    if sys.platform.startswith("linux"):
        add_desktop_files(BUNDLE)
    size = folder_bytes(BUNDLE)
    print(f"build_bundle: built {BUNDLE} in {seconds:.0f} s")
    print(f"build_bundle: size {size / 2**20:,.0f} MiB; run it with {executable()}")
    print("build_bundle: check it with `make bundle-check` (headless self-test)")
    if sys.platform.startswith("linux"):
        print(f"build_bundle: desktop integration: {BUNDLE / 'linux' / 'install-desktop.sh'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clean", action="store_true", help="empty PyInstaller's cache and build folder first")
    return build(parser.parse_args(argv).clean)


if __name__ == "__main__":
    sys.exit(main())
