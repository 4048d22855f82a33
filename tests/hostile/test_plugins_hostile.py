"""Hostile plugins (issue 15, item 7 and the plugin part of item 3): a plugin that loops, sleeps, exits,
prints or lies about its shapes is stopped and named; it never hangs or ends LayerLoom, never corrupts
machine-readable output, and what ``check`` accepts from it builds.

Every limit here is short (``LAYERLOOM_PLUGIN_TIMEOUT``), and a test that would hang on a regression
is ended by faulthandler after a minute with every thread's traceback, never left hanging in CI.
"""

from __future__ import annotations

import faulthandler
import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
import torch
from torch import nn

from layerloom import Graph, analyze, compile_graph, save_graph
from layerloom.catalog.builtin import builtin_specs
from layerloom.core.errors import CompileError
from layerloom.catalog.plugins import load_plugins
from layerloom.core.shapes import TensorSpec
from layerloom.catalog.spec import Catalog, NodeSpec

ROOT = Path(__file__).resolve().parents[2]
LIMIT = "0.3"
SLOW_START = "1"   # for the tests that start a new process: its good plugins must load in time on a busy machine


@pytest.fixture(autouse=True)
def short_limit(monkeypatch):
    monkeypatch.setenv("LAYERLOOM_PLUGIN_TIMEOUT", LIMIT)
    faulthandler.dump_traceback_later(60, exit=True)   # a hang ends the run with tracebacks
    yield
    faulthandler.cancel_dump_traceback_later()


def _write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


GOOD = """
    from layerloom.catalog.spec import NodeSpec

    def _build(ctx):
        from torch import nn
        return nn.Identity()

    NODES = [NodeSpec("Calm", "Hostile", "x, unchanged", infer=lambda ctx: ctx.expect_float(), build=_build,
                      count_params=lambda ctx: 0)]
    """


# ----------------------------------------------------------------------------------------- loading
def test_plugins_that_loop_sleep_or_exit_at_import_are_reported_and_the_rest_load(tmp_path):
    folder = tmp_path / "plugins"
    _write(folder, "a_loops.py", "x = 0\nwhile True:\n    x += 1\n")
    _write(folder, "b_sleeps.py", "import time\n\ntime.sleep(3600)\n")
    _write(folder, "c_exits.py", "import sys\nsys.exit(3)\n")
    _write(folder, "d_interrupts.py", "raise KeyboardInterrupt\n")
    _write(folder, "e_swallows.py", "while True:\n    try:\n        while True:\n            pass\n"
                                    "    except Exception:\n        pass\n")
    _write(folder, "f_good.py", GOOD)
    catalog = Catalog().extend(builtin_specs())
    report = load_plugins(catalog, [folder], entry_points=False)
    by_plugin = {p.plugin: p for p in report.problems}
    assert set(by_plugin) == {"a_loops", "b_sleeps", "c_exits", "d_interrupts", "e_swallows"}
    for name in ("a_loops", "b_sleeps", "e_swallows"):
        problem = by_plugin[name]
        assert f"did not finish loading within {LIMIT} s" in problem.message, problem
        assert problem.file.endswith(f"{name}.py") and problem.line is not None
    assert by_plugin["b_sleeps"].line == 3
    assert "sys.exit(3)" in by_plugin["c_exits"].message and by_plugin["c_exits"].line == 2
    assert "KeyboardInterrupt" in by_plugin["d_interrupts"].message
    assert report.loaded["f_good"] == ["Calm"] and "Calm" in catalog
    assert not any(name.startswith("layerloom_plugin_a_") for name in sys.modules)


def test_a_plugin_stopped_while_it_imports_another_module_gets_the_grace_it_needs(tmp_path, monkeypatch):
    """Interrupting a library's import half way would leave it broken for the whole process: time
    spent importing other modules gets a longer grace (here the helper module takes 0.6 s, twice
    the limit), then the plugin loads."""
    helpers = tmp_path / "site"
    _write(helpers, "slow_dependency.py", "import time\n\ntime.sleep(0.6)\nREADY = True\n")
    monkeypatch.syspath_prepend(str(helpers))
    folder = tmp_path / "plugins"
    _write(folder, "uses_slow.py", "import slow_dependency\n\nassert slow_dependency.READY\n" + textwrap.dedent(GOOD))
    report = load_plugins(Catalog().extend(builtin_specs()), [folder], entry_points=False)
    assert report.problems == [] and report.loaded == {"uses_slow": ["Calm"]}


def test_loading_from_a_worker_thread_abandons_a_plugin_that_sleeps(tmp_path):
    folder = tmp_path / "plugins"
    _write(folder, "a_sleeps.py", "import time\n\ntime.sleep(3600)\n")
    _write(folder, "b_loops.py", "while True:\n    pass\n")
    _write(folder, "c_good.py", GOOD)
    result = {}
    worker = threading.Thread(target=lambda: result.setdefault(
        "report", load_plugins(Catalog().extend(builtin_specs()), [folder], entry_points=False)))
    worker.start()
    worker.join(30)
    assert not worker.is_alive(), "loading plugins from a thread hung"
    report = result["report"]
    assert sorted(p.plugin for p in report.problems) == ["a_sleeps", "b_loops"]
    assert all(f"within {LIMIT} s" in p.message for p in report.problems)
    assert report.loaded == {"c_good": ["Calm"]}


def test_a_real_ctrl_c_while_a_plugin_loads_still_stops_the_program(tmp_path):
    folder = tmp_path / "plugins"
    _write(folder, "slow.py", "import os, signal, time\nos.kill(os.getpid(), signal.SIGINT)\ntime.sleep(5)\n")
    with pytest.raises(KeyboardInterrupt):
        load_plugins(Catalog().extend(builtin_specs()), [folder], entry_points=False)


def test_what_a_plugin_prints_at_import_goes_to_stderr(tmp_path, capfd):
    folder = tmp_path / "plugins"
    _write(folder, "chatty.py", "import os\nprint('hello from a plugin')\nos.write(1, b'raw bytes\\n')\n"
           + textwrap.dedent(GOOD))
    report = load_plugins(Catalog().extend(builtin_specs()), [folder], entry_points=False)
    assert report.loaded == {"chatty": ["Calm"]}
    out, err = capfd.readouterr()
    assert out == "" and "hello from a plugin" in err and "raw bytes" in err


# ------------------------------------------------------------------------------- infer and build
def _catalog(*specs: NodeSpec) -> Catalog:
    return Catalog().extend(builtin_specs()).extend(specs)


def _spec(type_id: str, infer, build=None, **extra) -> NodeSpec:
    extra.setdefault("count_params", lambda ctx: 0)
    return NodeSpec(type_id, "Hostile", "a hostile node", infer=infer, build=build or (lambda ctx: nn.Identity()),
                    source="hostile", **extra)


def _graph(catalog: Catalog, type_id: str, with_loss: bool = False) -> Graph:
    g = Graph(name="hostile", catalog=catalog)
    x = g.add_node("Input", "x", {"shape": [4]}, node_id="x")
    node = g.add_node(type_id, "h", node_id="h")
    g.connect(x.id, "out", node.id, "in")
    g.connect(node.id, "out", g.add_node("Output", "y", node_id="y").id, "in")
    if with_loss:
        t = g.add_node("Target", "t", {"shape": [4], "dtype": "float32"}, node_id="t")
        loss = g.add_node("MSELoss", "loss", node_id="loss")
        g.connect(node.id, "out", loss.id, "pred")
        g.connect(t.id, "out", loss.id, "target")
    return g


def _loop(ctx):
    while True:
        pass


def _sleep(ctx):
    import time

    time.sleep(3600)


def _only_error(analysis, node_id: str = "h"):
    errors = analysis.errors
    assert [p.node_id for p in errors] == [node_id], [p.describe() for p in errors]
    return errors[0]


@pytest.mark.parametrize("body", [_loop, _sleep], ids=["loops", "sleeps"])
def test_an_infer_that_never_returns_becomes_a_problem_on_its_node(body):
    type_id = f"Stuck{body.__name__.title().strip('_')}"
    g = _graph(_catalog(_spec(type_id, body)), type_id)
    problem = _only_error(analyze(g))
    assert f"the infer() of plugin 'hostile' did not return within {LIMIT} s" in problem.message
    again = _only_error(analyze(g))                 # the next edit does not wait again
    assert "did not return" in again.message and "restart" in again.message


def test_an_infer_that_loops_in_a_worker_thread_is_stopped_too():
    g = _graph(_catalog(_spec("StuckInThread", _loop)), "StuckInThread")
    result = {}
    worker = threading.Thread(target=lambda: result.setdefault("analysis", analyze(g)))
    worker.start()
    worker.join(30)
    assert not worker.is_alive(), "analysis in a worker thread hung"
    assert "did not return within" in _only_error(result["analysis"]).message


def test_a_build_that_loops_in_a_worker_thread_is_a_compile_error():
    g = _graph(_catalog(_spec("SlowBuild", lambda ctx: ctx.input(), build=_loop)), "SlowBuild")
    assert analyze(g).ok
    result = {}

    def compile_it():
        try:
            compile_graph(g)
        except CompileError as exc:
            result["error"] = exc

    worker = threading.Thread(target=compile_it)
    worker.start()
    worker.join(30)
    assert not worker.is_alive(), "compiling in a worker thread hung"
    assert "the build() of plugin 'hostile' did not return within" in str(result["error"]) and '"h"' in str(result["error"])


def test_someone_elses_alarm_is_put_back_after_plugin_code_runs():
    """A timer armed outside (a test runner's timeout, the user's own code) keeps its handler and what
    is left of its time; one due before the plugin's limit is left alone (the watchdog stops the plugin)."""
    import signal

    fired = []

    def theirs(*_):
        fired.append(1)

    old = signal.signal(signal.SIGALRM, theirs)
    try:
        signal.setitimer(signal.ITIMER_REAL, 30)
        problem = _only_error(analyze(_graph(_catalog(_spec("StuckUnderTimer", _loop)), "StuckUnderTimer")))
        assert "did not return within" in problem.message
        left, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 20 < left < 30 and signal.getsignal(signal.SIGALRM) is theirs and not fired
        signal.setitimer(signal.ITIMER_REAL, 0.2)      # due before the plugin's 0.3 s
        problem = _only_error(analyze(_graph(_catalog(_spec("StuckUnderShortTimer", _loop)), "StuckUnderShortTimer")))
        assert "did not return within" in problem.message and fired == [1]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _exits(ctx):
    sys.exit(3)


def _interrupts(ctx):
    raise KeyboardInterrupt


@pytest.mark.parametrize("body, text", [(_exits, "sys.exit(3)"), (_interrupts, "KeyboardInterrupt")])
def test_an_infer_that_exits_is_a_problem_not_the_end_of_the_program(body, text):
    type_id = f"Quits{body.__name__.strip('_').title()}"
    problem = _only_error(analyze(_graph(_catalog(_spec(type_id, body)), type_id)))
    assert "plugin 'hostile'" in problem.message and text in problem.message


def test_what_plugin_code_prints_while_checking_or_building_goes_to_stderr(capfd):
    def chatty_infer(ctx):
        print("inferring")
        return ctx.input()

    def chatty_build(ctx):
        print("building")
        return nn.Identity()

    g = _graph(_catalog(_spec("Chatty", chatty_infer, chatty_build)), "Chatty")
    assert analyze(g).ok
    compile_graph(g)
    out, err = capfd.readouterr()
    assert out == "" and "inferring" in err and "building" in err


BAD_SHAPES = [
    (("N", -3), "-3"),
    (("N", 0), "0"),
    (("N", 2.5), "2.5"),
    (("N", True), "True"),
    (("N", "4"), "'4'"),
    (("N", 10**12), "1000000000000"),
    ((4,), "batch"),
    (("N", "N"), "'N'"),
    (["N", 4], "tuple"),
]


@pytest.mark.parametrize("shape, named", BAD_SHAPES, ids=[repr(s) for s, _ in BAD_SHAPES])
def test_a_plugin_shape_that_no_tensor_can_have_is_refused_by_check(shape, named):
    type_id = "Liar" + str(abs(hash(repr(shape))))
    g = _graph(_catalog(_spec(type_id, lambda ctx: TensorSpec(shape))), type_id)
    problem = _only_error(analyze(g))
    assert "the infer() of plugin 'hostile'" in problem.message and named in problem.message, problem.message
    assert problem.label == f'{type_id} "h"'
    with pytest.raises(CompileError):
        compile_graph(g)


@pytest.mark.parametrize("result, named", [
    (None, "NoneType"),
    ({"other": TensorSpec(("N", 4))}, "'other'"),
    (TensorSpec(("N", 4), "float64"), "float64"),
])
def test_an_infer_result_that_is_not_a_tensor_spec_per_output_is_refused(result, named):
    type_id = "Odd" + str(abs(hash(repr(result))))
    problem = _only_error(analyze(_graph(_catalog(_spec(type_id, lambda ctx: result)), type_id)))
    assert "plugin 'hostile'" in problem.message and named in problem.message, problem.message


@pytest.mark.parametrize("count", [-1, 2.5, "many", None])
def test_a_parameter_count_that_is_not_a_count_is_refused(count):
    type_id = "Counts" + str(abs(hash(repr(count))))
    spec = _spec(type_id, lambda ctx: ctx.input(), count_params=lambda ctx: count)
    problem = _only_error(analyze(_graph(_catalog(spec), type_id)))
    assert "count_params()" in problem.message and repr(count) in problem.message


class _Halve(nn.Module):
    def forward(self, x):
        return x[:, :2]


def test_an_infer_that_lies_about_the_shape_fails_compile_naming_plugin_and_node():
    liar = _spec("ClaimsSame", lambda ctx: ctx.input(), build=lambda ctx: _Halve())
    g = _graph(_catalog(liar), "ClaimsSame", with_loss=True)
    assert analyze(g).ok                              # check cannot know: it does not build
    with pytest.raises(CompileError) as caught:
        compile_graph(g)
    text = str(caught.value)
    assert "ClaimsSame \"h\"" in text and "plugin 'hostile'" in text
    assert "[2, 2]" in text and "[N, 4]" in text


def test_check_builds_a_graph_with_plugin_nodes_so_what_it_accepts_trains(tmp_path, monkeypatch, capsys):
    import layerloom.catalog.spec
    from layerloom.cli.main import main

    liar = _spec("ClaimsSameToo", lambda ctx: ctx.input(), build=lambda ctx: _Halve())
    catalog = _catalog(liar)
    monkeypatch.setattr(layerloom.catalog.spec, "_DEFAULT", catalog)     # as if the plugin were installed
    path = save_graph(_graph(catalog, "ClaimsSameToo", with_loss=True), tmp_path / "liar.llgraph.json")
    assert main(["check", str(path)]) == 1
    out = capsys.readouterr().out
    assert "FAILED: 1 error" in out and 'ClaimsSameToo "h": plugin \'hostile\': its module returns [2, 2]' in out


class _SumLoss(nn.Module):
    def __init__(self, per_sample: bool):
        super().__init__()
        self.per_sample = per_sample

    def forward(self, pred, target):
        error = ((pred - target) ** 2).sum(dim=1)
        return error if self.per_sample else error.mean()


@pytest.mark.parametrize("per_sample", [False, True], ids=["scalar", "per-sample"])
def test_a_plugin_loss_is_held_to_a_scalar_at_compile(per_sample):
    from layerloom.catalog.builtin.losses import PORTS_IN
    from layerloom.catalog.spec import LOSS_ROLE

    type_id = f"SquaredSum{int(per_sample)}"
    loss = NodeSpec(type_id, "Hostile", "sum of squares", role=LOSS_ROLE, inputs=PORTS_IN,
                    infer=lambda ctx: TensorSpec(()), build=lambda ctx: _SumLoss(per_sample),
                    count_params=lambda ctx: 0, source="hostile")
    catalog = _catalog(loss)
    g = _graph(catalog, "ReLU")
    t = g.add_node("Target", "t", {"shape": [4], "dtype": "float32"}, node_id="t")
    g.connect("h", "out", g.add_node(type_id, "loss", node_id="loss").id, "pred")
    g.connect(t.id, "out", "loss", "target")
    assert analyze(g).ok
    if not per_sample:
        assert compile_graph(g).criterion is not None
        return
    with pytest.raises(CompileError, match=r"returns \[2\] \(float32\) at batch 2, but its infer\(\) declared \[\]"):
        compile_graph(g)


def test_a_module_that_returns_another_dtype_than_declared_fails_compile():
    class ToDouble(nn.Module):
        def forward(self, x):
            return x.double()

    g = _graph(_catalog(_spec("Doubles", lambda ctx: ctx.input(), build=lambda ctx: ToDouble())), "Doubles")
    with pytest.raises(CompileError, match="float64"):
        compile_graph(g)


def test_the_build_check_leaves_weights_running_stats_and_the_random_stream_alone():
    """The one check run must not change what training sees: same weights and batch-norm statistics
    as without a check, and the same random numbers afterwards."""
    spec = _spec("Normed", lambda ctx: ctx.input(),
                 build=lambda ctx: nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4), nn.Dropout(0.5)))
    g = _graph(_catalog(spec), "Normed")
    torch.manual_seed(5)
    model = compile_graph(g, seed=1).model
    after = torch.rand(3)
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.testing.assert_close(after, expected)
    norm = model.h[1]
    assert norm.num_batches_tracked.item() == 0 and torch.equal(norm.running_mean, torch.zeros(4))
    assert model.h.training and norm.training


def test_the_self_test_checks_the_guard_in_this_build(tmp_path):
    from layerloom.nodeeditor.app import _check_plugin_guard

    assert "sys.exit(3) reported" in _check_plugin_guard(tmp_path, limit=LIMIT)


# ------------------------------------------------------------------------------------- the CLI
def _cli_env(tmp_path: Path, folder: Path) -> dict:
    env = {key: value for key, value in os.environ.items() if key != "LAYERLOOM_NO_PLUGINS"}
    env.update(LAYERLOOM_PLUGIN_PATH=str(folder), LAYERLOOM_PLUGIN_TIMEOUT=SLOW_START, HOME=str(tmp_path),
               PYTHONPATH=str(ROOT))
    return env


def test_every_cli_command_reports_broken_plugins_on_stderr_and_keeps_stdout_clean(tmp_path):
    folder = tmp_path / "plugins"
    _write(folder, "loops.py", "while True:\n    pass\n")
    _write(folder, "exits.py", "import sys\nsys.exit(3)\n")
    _write(folder, "chatty.py", """
        print("hello from chatty")
        from layerloom.catalog.spec import NodeSpec

        def _infer(ctx):
            print("chatty infers")
            return ctx.expect_float()

        def _build(ctx):
            from torch import nn
            return nn.Identity()

        NODES = [NodeSpec("Chatty", "Hostile", "x, said aloud", infer=_infer, build=_build,
                          count_params=lambda ctx: 0)]
        """)
    stand_in = _spec("Chatty", lambda ctx: ctx.input())      # saves the same type id the plugin registers
    graph_path = save_graph(_graph(_catalog(stand_in), "Chatty"), tmp_path / "talks.llgraph.json")
    env = _cli_env(tmp_path, folder)

    def cli(*argv):
        return subprocess.run([sys.executable, "-m", "layerloom.cli", *argv], capture_output=True, text=True,
                              timeout=120, env=env, cwd=tmp_path)

    checked = cli("check", "--json", str(graph_path))
    assert checked.returncode == 0, checked.stderr
    report = json.loads(checked.stdout)                      # nothing but the JSON on stdout
    assert report["ok"] and [n["type"] for n in report["nodes"]] == ["Input", "Chatty", "Output"], report
    failed = [line for line in checked.stderr.splitlines() if "skipped" in line]
    assert len(failed) == 2, checked.stderr
    assert any("loops.py:" in line and f"within {SLOW_START} s" in line for line in failed), failed
    assert any("exits.py:2" in line and "sys.exit(3)" in line for line in failed)
    assert "hello from chatty" in checked.stderr and "chatty infers" in checked.stderr

    listed = cli("nodes")
    assert listed.returncode == 0 and "Chatty" in listed.stdout and "skipped" not in listed.stdout
    assert sum("skipped" in line for line in listed.stderr.splitlines()) == 2


@pytest.mark.gui
def test_the_editor_starts_with_a_plugin_that_hangs_and_says_so(tmp_path):
    folder = tmp_path / "plugins"
    _write(folder, "hangs.py", "import time\n\ntime.sleep(3600)\n")
    _write(folder, "good.py", GOOD)
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
        w.report_plugin_problems()
        print(w.statusBar().currentMessage())
        print(w.palette_widget.item_for("Calm") is not None)
        print(w.plugins_text().replace("\\n", " | "))
        """)
    env = _cli_env(tmp_path, folder)
    env["QT_QPA_PLATFORM"] = "offscreen"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env,
                            cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    status, has_calm, text = result.stdout.splitlines()[:3]
    assert status == "1 plugin(s) could not load: see Help > Plugins" and has_calm == "True", result.stdout
    assert "hangs.py:3" in text and f"did not finish loading within {SLOW_START} s" in text, text
