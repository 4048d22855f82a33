"""Packaging stays consistent without building a bundle: the desktop entry, MIME type and AppStream
metadata agree with each other and with the project, the icons exist at their sizes, the installer
script installs and uninstalls them, the PyInstaller spec starts the editor, and the self-test's
report and the bundle check's reading of it behave."""

from __future__ import annotations

import ast
import configparser
import io
import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGING = ROOT / "packaging"
LINUX = PACKAGING / "linux"
APP_ID = "io.github.layerloom.LayerLoom"
MIME_TYPE = "application/x-layerloom-graph"
MIME_NS = "{http://www.freedesktop.org/standards/shared-mime-info}"
SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


@pytest.fixture(scope="module")
def project() -> dict:
    tomllib = pytest.importorskip("tomllib", reason="tomllib is Python 3.11+")
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def desktop_entry() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str   # keys are case-sensitive
    parser.read(LINUX / f"{APP_ID}.desktop", encoding="utf-8")
    return parser["Desktop Entry"]


def mime_type_element() -> ET.Element:
    root = ET.parse(LINUX / "layerloom.xml").getroot()
    assert root.tag == f"{MIME_NS}mime-info"
    types = root.findall(f"{MIME_NS}mime-type")
    assert len(types) == 1
    return types[0]


def metainfo() -> ET.Element:
    return ET.parse(LINUX / f"{APP_ID}.metainfo.xml").getroot()


# ---------------------------------------------------------------------- desktop entry, MIME, AppStream
def test_desktop_entry_launches_layerloom_on_a_file():
    entry = desktop_entry()
    for key in ("Type", "Name", "Comment", "Exec", "Icon", "Categories", "MimeType", "Terminal"):
        assert entry.get(key), key
    assert entry["Type"] == "Application" and entry["Terminal"] == "false"
    assert entry["Exec"].split() == ["layerloom", "%f"]
    assert entry["Icon"] == APP_ID
    assert {"Development", "Science", "Education"} <= set(entry["Categories"].strip(";").split(";"))
    assert entry["MimeType"].strip(";").split(";") == [mime_type_element().get("type")]


def test_mime_type_names_graph_files_by_suffix_and_content():
    from layerloom import Graph, dumps_graph
    from layerloom.files.graphfile import SUFFIX

    element = mime_type_element()
    assert element.get("type") == MIME_TYPE
    assert [g.get("pattern") for g in element.findall(f"{MIME_NS}glob")] == [f"*{SUFFIX}"]
    assert element.find(f"{MIME_NS}sub-class-of").get("type") == "application/json"
    match = element.find(f"{MIME_NS}magic/{MIME_NS}match")
    start, end = (int(n) for n in match.get("offset").split(":"))
    assert match.get("value") in dumps_graph(Graph(name="x"))[start:end + len(match.get("value"))]


def test_appstream_metadata_matches_the_project(project):
    root = metainfo()
    assert root.tag == "component" and root.get("type") == "desktop-application"
    assert root.findtext("id") == APP_ID
    assert root.findtext("launchable") == f"{APP_ID}.desktop"
    assert root.findtext("metadata_license") == "CC0-1.0"
    assert root.findtext("project_license") == project["license"]["text"]
    assert root.findtext("name") == "LayerLoom" and root.findtext("summary")
    assert root.find("description/p") is not None
    assert root.find("content_rating").get("type").startswith("oars")
    assert root.findtext("provides/binary") == "layerloom"
    assert root.findtext("provides/mediatype") == MIME_TYPE
    assert [r.get("version") for r in root.findall("releases/release")][0] == project["version"]
    images = [i.text for i in root.findall("screenshots/screenshot/image")]
    assert images
    for url in images:   # each screenshot is a file of this repository
        assert (ROOT / url.split("/main/", 1)[1]).is_file(), url


# ---------------------------------------------------------------------- icons
@pytest.mark.gui
def test_hicolor_icons_exist_at_their_sizes():
    from PySide6.QtGui import QImage

    for size in SIZES:
        path = LINUX / "icons" / "hicolor" / f"{size}x{size}" / "apps" / f"{APP_ID}.png"
        image = QImage(str(path))
        assert not image.isNull(), path
        assert (image.width(), image.height()) == (size, size), path
        assert image.hasAlphaChannel() and image.pixelColor(0, 0).alpha() == 0, path   # transparent corners
    scalable = LINUX / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg"
    assert scalable.read_bytes() == (ROOT / "resources" / "icons" / "layerloom.svg").read_bytes(), \
        "the app icon changed: run packaging/make_icons.py"


@pytest.mark.gui
def test_windows_and_macos_icons_hold_every_size():
    from PySide6.QtGui import QImageReader

    ico = QImageReader(str(PACKAGING / "windows" / "layerloom.ico"))
    assert ico.imageCount() == 7 and ico.read().width() == 16
    icns = QImageReader(str(PACKAGING / "macos" / "layerloom.icns"))
    assert icns.imageCount() == 10 and not icns.read().isNull()


@pytest.mark.gui
def test_qt_reads_the_mime_type_from_the_installed_xml(tmp_path):
    """What a desktop would do after install-desktop.sh: *.llgraph.json (and a graph file with any
    name, by its content) is a LayerLoom graph, which is a kind of JSON."""
    (tmp_path / "mime" / "packages").mkdir(parents=True)
    shutil.copy(LINUX / "layerloom.xml", tmp_path / "mime" / "packages")
    example = ROOT / "resources" / "examples" / "digits_mlp.llgraph.json"
    shutil.copy(example, tmp_path / "renamed")
    script = ("from PySide6.QtCore import QMimeDatabase\n"
              "db = QMimeDatabase()\n"
              f"graph = db.mimeTypeForFile({str(example)!r})\n"
              f"print(graph.name(), graph.inherits('application/json'), db.mimeTypeForFile({str(tmp_path / 'renamed')!r}).name())\n")
    env = dict(os.environ, XDG_DATA_HOME=str(tmp_path), XDG_DATA_DIRS=str(tmp_path))
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60)
    assert result.stdout.split() == [MIME_TYPE, "True", MIME_TYPE], result.stderr


@pytest.mark.skipif(shutil.which("sh") is None or sys.platform == "win32", reason="a POSIX shell script")
def test_install_desktop_script_installs_and_uninstalls(tmp_path):
    script = LINUX / "install-desktop.sh"
    env = dict(os.environ, XDG_DATA_HOME=str(tmp_path), PATH="/usr/bin:/bin")
    env.pop("PREFIX", None)
    run = subprocess.run(["sh", str(script), "--exec", "/opt/Layer Loom/layerloom"], capture_output=True, text=True,
                         env=env, timeout=60)
    assert run.returncode == 0, run.stderr
    installed = desktop_entry_at(tmp_path / "applications" / f"{APP_ID}.desktop")
    assert installed["Exec"] == '"/opt/Layer Loom/layerloom" %f'
    assert installed["TryExec"] == "/opt/Layer Loom/layerloom"
    files = [tmp_path / "mime" / "packages" / "layerloom.xml", tmp_path / "metainfo" / f"{APP_ID}.metainfo.xml",
             tmp_path / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg",
             *(tmp_path / "icons" / "hicolor" / f"{s}x{s}" / "apps" / f"{APP_ID}.png" for s in SIZES)]
    assert all(f.is_file() for f in files)
    removed = subprocess.run(["sh", str(script), "--uninstall"], capture_output=True, text=True, env=env, timeout=60)
    assert removed.returncode == 0, removed.stderr
    assert not any(f.exists() for f in [*files, tmp_path / "applications" / f"{APP_ID}.desktop"])


def desktop_entry_at(path: Path) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str
    parser.read(path, encoding="utf-8")
    return parser["Desktop Entry"]


# ---------------------------------------------------------------------- the bundle's spec
def test_spec_builds_the_editor_entry_point_with_its_resources(project):
    spec = (PACKAGING / "layerloom.spec").read_text()
    ast.parse(spec)   # valid Python
    assert "layerloom_launcher.py" in spec and "layerloom_resources" in spec and "COLLECT(" in spec
    launcher = ast.parse((PACKAGING / "layerloom_launcher.py").read_text())
    imports = [(n.module, [a.name for a in n.names]) for n in ast.walk(launcher) if isinstance(n, ast.ImportFrom)]
    assert ("layerloom.nodeeditor.app", ["main"]) in imports
    assert project["gui-scripts"]["layerloom"] == "layerloom.nodeeditor.app:main"


# ---------------------------------------------------------------------- --self-test and its check
class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 0.5
        return self.now


def test_self_test_reports_each_step_and_the_first_failure():
    from layerloom.nodeeditor.app import SelfTest, SelfTestFailed

    out = io.StringIO()
    test = SelfTest(out=out, clock=FakeClock())
    test.step("first", lambda: ("fine", {"answer": 42, "_private": object()}))
    with pytest.raises(SelfTestFailed) as failure:
        test.step("second", lambda: 1 / 0)
    assert failure.value.step == "second"
    assert test.finish(failure.value) == 1
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("self-test: first") and "fine" in lines[0]
    assert lines[-1].startswith("self-test report: ")
    report = json.loads(lines[-1].removeprefix("self-test report: "))
    assert report["ok"] is False and report["failed_step"] == "second" and "ZeroDivisionError" in report["error"]
    assert report["answer"] == 42 and "_private" not in report
    assert [s["step"] for s in report["steps"]] == ["first"] and report["steps"][0]["seconds"] == 0.5


def test_self_test_option_is_offered(capsys):
    from layerloom.nodeeditor.app import main

    with pytest.raises(SystemExit):
        main(["--help"])
    assert "--self-test" in capsys.readouterr().out


@pytest.mark.skipif(sys.platform == "win32", reason="a shell script stands in for the bundle")
@pytest.mark.parametrize("ok", [True, False])
def test_check_bundle_times_start_up_and_reads_the_report(tmp_path, ok, capsys):
    sys.path.insert(0, str(PACKAGING))
    try:
        import check_bundle
    finally:
        sys.path.remove(str(PACKAGING))
    report = json.dumps({"ok": ok, "total_s": 1.0, "steps": [], "onnx_max_abs_diff": 1e-7})
    program = tmp_path / ("LayerLoom" if sys.platform == "darwin" else "layerloom")
    program.write_text("#!/bin/sh\n"
                       'if [ "$1" = --screenshot ]; then head -c 6000 /dev/zero > "$2"; exit 0; fi\n'
                       'echo "self-test: window shown   0.10 s  0.1 s after start"\n'
                       f"echo 'self-test report: {report}'\n"
                       f"exit {0 if ok else 1}\n")
    program.chmod(0o755)
    assert check_bundle.main([str(tmp_path)]) == (0 if ok else 1)
    out = capsys.readouterr().out
    assert "s best" in out and "self-test start" in out and "ONNX max diff     1.00e-07" in out


# ---------------------------------------------------------------------- one import name
def test_pyproject_lists_every_package_folder_under_its_import_name(tmp_path):
    """setuptools installs only the packages pyproject.toml lists: a new package folder left off the list
    would be missing from the wheel and the bundle (and work in a checkout)."""
    sys.path.insert(0, str(PACKAGING))
    try:
        from stage import package_dirs, stage_packages
    finally:
        sys.path.remove(str(PACKAGING))
    tomllib = pytest.importorskip("tomllib", reason="tomllib is Python 3.11+")
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {"layerloom_resources"}
    for name, folder in package_dirs().items():
        if name != "layerloom_resources":
            found |= {".".join([name, *init.parent.relative_to(folder).parts]) for init in folder.rglob("__init__.py")
                      if "__pycache__" not in init.parts}
    # a mapped package's folder nested in another's (runtime/ holds no editor) would install twice
    assert listed == found, (sorted(listed - found), sorted(found - listed))
    staged = stage_packages(tmp_path / "site")
    assert (staged / "layerloom" / "nodeeditor" / "app.py").is_file()
    assert (staged / "layerloom" / "model" / "graph.py").is_file()
    assert not (staged / "runtime").exists() and not (staged / "nodeeditor").exists()
