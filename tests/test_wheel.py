"""One import name: the wheel installs `layerloom` (with the editor beneath it as `layerloom.nodeeditor`) and
`layerloom_resources`, nothing else at the top, so it installs beside the registry's unrelated `nodeeditor`
package (a PyQt5 node editor, top-level name `nodeeditor`) and both import.

The registry is not reached: the other `nodeeditor` is a stand-in wheel with the same name, version and
top-level package, built here.
"""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def stand_in_nodeeditor(folder: Path) -> Path:
    """A wheel shaped like the registry's ``nodeeditor`` 0.9.15: one top-level package ``nodeeditor``."""
    files = {
        "nodeeditor/__init__.py": b'"""Stand-in for the registry\'s nodeeditor (PyQt5)."""\nWHO = "registry nodeeditor"\n',
        "nodeeditor-0.9.15.dist-info/METADATA": b"Metadata-Version: 2.1\nName: nodeeditor\nVersion: 0.9.15\n",
        "nodeeditor-0.9.15.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                                              b"Tag: py3-none-any\n",
        "nodeeditor-0.9.15.dist-info/top_level.txt": b"nodeeditor\n",
    }
    path = folder / "nodeeditor-0.9.15-py3-none-any.whl"
    record = "nodeeditor-0.9.15.dist-info/RECORD"
    with zipfile.ZipFile(path, "w") as wheel:
        for name, data in files.items():
            wheel.writestr(name, data)
        wheel.writestr(record, "\n".join([*(_record_line(n, d) for n, d in files.items()), f"{record},,"]) + "\n")
    return path


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
                    "-w", str(out), str(ROOT)], check=True, capture_output=True, timeout=300)
    return next(out.glob("layerloom-*.whl"))


def test_the_wheel_installs_only_layerloom_names_at_the_top(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert {name.split("/")[0] for name in names} == {"layerloom", "layerloom_resources",
                                                      wheel.name.split("-py3")[0] + ".dist-info"}
    # every package folder of the checkout is in it, under its import name
    assert "layerloom/nodeeditor/app.py" in names and "layerloom/model/graph.py" in names
    assert "layerloom_resources/examples/digits_mlp.llgraph.json" in names
    entry_points = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "layerloom-cli = layerloom.cli.main:main" in entry_points
    assert "layerloom = layerloom.nodeeditor.app:main" in entry_points


def test_installed_beside_the_registry_nodeeditor_both_import(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index",
                    "--quiet", str(wheel), str(stand_in_nodeeditor(tmp_path))], check=True, capture_output=True,
                   timeout=300)
    # LayerLoom's dependencies (torch, Qt...) come from this environment, after the fresh venv's own
    # site-packages: LayerLoom itself is found in the fresh venv, never the checkout or its editable install.
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (Path(site) / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    script = f"""
import nodeeditor, layerloom, layerloom.nodeeditor.app, layerloom.catalog
from layerloom import load_graph, analyze
from layerloom.files.resources import example_path
assert nodeeditor.WHO == "registry nodeeditor", nodeeditor.__file__
assert layerloom.__file__.startswith({str(venv)!r}), layerloom.__file__
assert layerloom.nodeeditor.__file__.startswith({str(venv)!r}), layerloom.nodeeditor.__file__
assert analyze(load_graph(example_path("digits_mlp"))).ok
print("ok", nodeeditor.__name__, layerloom.nodeeditor.__name__)
"""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run([str(python), "-c", script], capture_output=True, text=True, cwd=tmp_path, env=env,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok nodeeditor layerloom.nodeeditor"
    # the installed command line runs from the fresh venv too
    check = subprocess.run([str(venv / "bin" / "layerloom-cli"), "check", str(ROOT / "resources" / "examples" /
                            "digits_mlp.llgraph.json")], capture_output=True, text=True, cwd=tmp_path, env=env,
                           timeout=300)
    assert check.returncode == 0, check.stdout + check.stderr
