"""Python plugins: node types from a plugin folder and from entry points behave like built-ins; a
broken plugin is skipped with its file and line; a graph that needs a missing plugin still opens."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import torch

from layerloom import Graph, analyze, compile_graph, dumps_graph, loads_graph
from layerloom.catalog.plugins import PluginReport, load_plugins
from layerloom.files.resources import resource_root
from layerloom.catalog.spec import Catalog

EXAMPLES = resource_root() / "plugins"


def _builtin_catalog() -> Catalog:
    from layerloom.catalog.builtin import builtin_specs

    return Catalog().extend(builtin_specs())


@pytest.fixture
def catalog():
    catalog = _builtin_catalog()
    report = load_plugins(catalog, [EXAMPLES], entry_points=False)
    assert report.problems == [] and sorted(report.loaded) == ["custom_activation", "dense_explicit"]
    return catalog


def _chain(catalog: Catalog, *layers) -> Graph:
    g = Graph(name="plugged", catalog=catalog)
    previous = g.add_node("Input", name="x", params={"shape": [6]}).id
    for type_id, params in layers:
        node = g.add_node(type_id, params=params).id
        g.connect(previous, "out", node, "in")
        previous = node
    g.connect(previous, "out", g.add_node("Output", name="y").id, "in")
    return g


def test_example_plugins_register_in_their_categories_with_their_source(catalog):
    damped, dense = catalog["DampedReLU"], catalog["ExplicitDense"]
    assert (damped.category, damped.source) == ("My activations", "custom_activation")
    assert (dense.category, dense.source) == ("My layers", "dense_explicit")
    assert "My layers" in catalog.categories()


def test_plugin_nodes_compute_what_the_hand_written_torch_computes(catalog):
    g = _chain(catalog, ("ExplicitDense", {"units": 4}), ("DampedReLU", {"slope": 0.25}))
    analysis = analyze(g)
    assert not analysis.errors
    dense_id = next(n.id for n in g if n.type_id == "ExplicitDense")
    assert analysis.nodes[dense_id].param_count == 6 * 4 + 4          # counted without building
    model = compile_graph(g).model
    dense = next(m for m in model.modules() if type(m).__name__ == "ExplicitDense")
    x = torch.randn(5, 6)
    hand = torch.relu(x @ dense.weight + dense.bias) - 0.25 * (x @ dense.weight + dense.bias)
    out = model(x)
    got = out["y"] if isinstance(out, dict) else out
    torch.testing.assert_close(got, hand)
    got.sum().backward()
    assert dense.weight.grad is not None and dense.weight.grad.abs().sum() > 0   # the declared weights learn


def test_a_graph_with_plugin_nodes_round_trips_and_opens_without_the_plugin(catalog):
    g = _chain(catalog, ("DampedReLU", {"slope": 0.5}))
    text = dumps_graph(g)
    assert '"type": "DampedReLU"' in text
    assert dumps_graph(loads_graph(text, catalog=catalog)) == text
    missing = loads_graph(text, catalog=_builtin_catalog())          # the plugin is not installed
    problems = [p for p in analyze(missing).errors if p.code == "unknown_type"]
    assert len(problems) == 1 and "plugin" in problems[0].message
    assert dumps_graph(missing) == text                               # nothing is lost on saving


def _write(folder, name, text):
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(textwrap.dedent(text))


def test_broken_plugins_are_skipped_with_file_and_line_and_the_rest_load(tmp_path):
    folder = tmp_path / "plugins"
    _write(folder, "a_syntax.py", "NODES = [\n    oops(\n")
    _write(folder, "b_raises.py", "import math\n\nraise RuntimeError('no GPU driver')\n")
    _write(folder, "c_not_specs.py", "NODES = ['ReLU']\n")
    _write(folder, "d_taken.py", """
        from layerloom.catalog.spec import NodeSpec
        NODES = [NodeSpec("ReLU", "Mine", "a second ReLU", infer=lambda ctx: ctx.input(), build=lambda ctx: None)]
        """)
    (folder / "e_good.py").write_text((EXAMPLES / "custom_activation.py").read_text())
    catalog = _builtin_catalog()
    report = load_plugins(catalog, [folder], entry_points=False)
    by_plugin = {p.plugin: p for p in report.problems}
    assert set(by_plugin) == {"a_syntax", "b_raises", "c_not_specs", "d_taken"}
    assert by_plugin["a_syntax"].file.endswith("a_syntax.py") and by_plugin["a_syntax"].line == 2
    assert by_plugin["b_raises"].line == 3 and "no GPU driver" in by_plugin["b_raises"].message
    assert "not a NodeSpec" in by_plugin["c_not_specs"].message
    assert "already registered" in by_plugin["d_taken"].message
    assert "b_raises.py:3" in by_plugin["b_raises"].describe()
    assert report.loaded["e_good"] == ["DampedReLU"] and catalog.get("DampedReLU") is not None
    assert catalog["ReLU"].source == "builtin"


def test_plugins_load_from_an_entry_point(tmp_path, monkeypatch):
    site = tmp_path / "site"
    package = site / "acme_nodes"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text((EXAMPLES / "custom_activation.py").read_text())
    info = site / "acme_nodes-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-nodes\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[layerloom.nodes]\nacme = acme_nodes\n")
    monkeypatch.syspath_prepend(str(site))
    catalog = _builtin_catalog()
    report = load_plugins(catalog, [], entry_points=True)
    assert report.loaded.get("acme") == ["DampedReLU"] and catalog["DampedReLU"].source == "acme"


def test_the_default_catalog_loads_the_plugin_folder_and_the_cli_lists_it(tmp_path):
    folder = tmp_path / "plugins"
    (folder).mkdir()
    (folder / "dense_explicit.py").write_text((EXAMPLES / "dense_explicit.py").read_text())
    _write(folder, "broken.py", "raise ValueError('half-installed')\n")
    env = {"LAYERLOOM_PLUGIN_PATH": str(folder), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    script = ("from layerloom.catalog.spec import default_catalog\nfrom layerloom.catalog.plugins import last_report\n"
              "c = default_catalog()\nprint(c['ExplicitDense'].source)\n"
              "print([p.describe() for p in last_report().problems])\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "dense_explicit" and "half-installed" in lines[1] and "broken.py:1" in lines[1]
    env["LAYERLOOM_NO_PLUGINS"] = "1"
    off = subprocess.run([sys.executable, "-c", "from layerloom.catalog.spec import default_catalog\n"
                          "print(default_catalog().get('ExplicitDense'))"], capture_output=True, text=True,
                         timeout=120, env=env)
    assert off.stdout.strip() == "None"


def test_an_empty_report_by_default():
    assert PluginReport().problems == [] and PluginReport().loaded == {}


@pytest.mark.gui
def test_the_editor_shows_plugin_nodes_in_the_palette_and_reports_broken_ones(tmp_path):
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "custom_activation.py").write_text((EXAMPLES / "custom_activation.py").read_text())
    _write(folder, "broken.py", "x = 1\nraise ImportError('needs scipy')\n")
    script = textwrap.dedent("""
        import tempfile
        from PySide6.QtCore import QSettings
        from PySide6.QtWidgets import QApplication
        app = QApplication([])
        from layerloom.nodeeditor.window.main_window import EditorWindow
        t = tempfile.mkdtemp()
        settings = QSettings(t + "/s.ini", QSettings.Format.IniFormat)
        settings.setValue("recovery_dir", t)
        w = EditorWindow(settings)
        item = w.palette_widget.item_for("DampedReLU")
        print(item.parent().text(0))
        w.palette_widget.search.setText("linear part")      # found by its doc line, like a built-in
        print(w.palette_widget.visible_types())
        w.palette_widget.search.setText("my activ")         # and by its category
        assert w.palette_widget.visible_types() == ["DampedReLU"], w.palette_widget.visible_types()
        w.report_plugin_problems()
        print(w.statusBar().currentMessage())
        print(w.plugins_text().replace("\\n", " | "))
        """)
    env = {"LAYERLOOM_PLUGIN_PATH": str(folder), "QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin",
           "HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    category, visible, status, text = result.stdout.splitlines()[:4]
    assert category == "My activations" and visible == "['DampedReLU']"
    assert status == "1 plugin(s) could not load: see Help > Plugins"
    assert "✔ custom_activation: DampedReLU" in text and "broken.py:2" in text and "needs scipy" in text
    assert "broken.py:2" in result.stderr
