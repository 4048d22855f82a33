"""What a run records about itself and how ``layerloom.training.records`` reads it back: summary.json's
times, outcome, graph and source; evaluation.json; the set-up stages and the first Step; older and
damaged run folders; finding a graph's latest run among several; the reader without torch or Qt."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from test_lazy_torch import BLOCK_TORCH, ROOT
from train_helpers import config_of, example, of_type

from layerloom.files.resources import example_path
from layerloom.training import EpochEnd, Finished, Preparing, RunStarted, Step, train
from layerloom.training.records import (CONFUSION_MAX_CLASSES, RunCurves, RunFolder, latest_run, read_evaluation,
                                        read_run, runs_of, scan_runs)

DIGITS_STEPS = 23  # digits at val_split 0.2, batch 64


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """The digits MLP example, 2 epochs, saved with its graph file as the source. Step events are
    published every 60 s at most: only the first step and the epochs' ends publish one."""
    graph = example("digits_mlp")
    root = tmp_path_factory.mktemp("runs")
    source = example_path("digits_mlp")
    evaluations = []  # evaluation.json's epoch as each EpochEnd goes out

    def look(event):
        if isinstance(event, EpochEnd):
            evaluations.append((read_evaluation(root / next(root.iterdir())) or {}).get("epoch"))

    result, session = train(graph, config_of(graph, epochs=2, device="cpu"), run_root=root, source=source,
                            step_interval=60.0, listeners=(look,))
    assert isinstance(result, Finished), result
    run_dir = Path(result.run_dir)
    return SimpleNamespace(result=result, events=session.events.drain(), run_dir=run_dir, source=source,
                           evaluations=evaluations,
                           history=session.trainer.history,
                           summary=json.loads((run_dir / "summary.json").read_text()),
                           config=json.loads((run_dir / "config.json").read_text()))


# --- summary.json -----------------------------------------------------------------------------------


def test_the_summary_records_the_runs_times_outcome_graph_and_source(digits):
    summary = digits.summary
    assert (summary["status"], summary["reason"]) == ("finished", "completed")
    assert summary["message"] == digits.result.message
    assert summary["graph"] == "Digits MLP" and summary["source"] == str(digits.source.resolve())
    assert digits.config["source"] == summary["source"] and digits.config["graph"] == "Digits MLP"
    started, ended = (datetime.fromisoformat(summary[k]) for k in ("started_at", "ended_at"))
    assert started.utcoffset() is not None and ended.utcoffset() is not None  # local time with its offset
    assert started <= ended
    # the window's "Finished in ..." and the Runs list read the very same number
    assert summary["duration_s"] == digits.result.duration_s > 0
    assert read_run(digits.run_dir).duration_s == digits.result.duration_s


def test_a_running_summary_has_a_start_and_no_end(tmp_path):
    """summary.json as RunStarted finds it (a listener on the worker reads it then): running, no end."""
    seen = []

    def look(event):
        if isinstance(event, RunStarted):
            seen.append(json.loads((Path(event.run_dir) / "summary.json").read_text()))

    graph = example("digits_mlp")
    result, _ = train(graph, config_of(graph, epochs=1), run_root=tmp_path, listeners=(look,))
    assert isinstance(result, Finished)
    running = seen[0]
    assert (running["status"], running["reason"], running["ended_at"]) == ("running", None, None)
    assert running["started_at"] == json.loads((Path(result.run_dir) / "summary.json").read_text())["started_at"]
    assert running["source"] is None and running["graph"] == "Digits MLP"  # an unsaved graph


def test_the_run_folder_reads_back_as_the_run_was(digits):
    info = read_run(digits.run_dir)
    assert (info.status, info.reason, info.graph_name) == ("completed", "completed", "Digits MLP")
    assert info.source == str(digits.source.resolve()) and not info.legacy
    assert (info.started_at, info.ended_at) == (digits.summary["started_at"], digits.summary["ended_at"])
    assert info.started == datetime.fromisoformat(info.started_at).timestamp()
    assert (info.epoch, info.epochs, info.best_epoch) == (2, 2, digits.result.best["epoch"])


# --- the set-up stages and the first step ----------------------------------------------------------


def test_the_set_up_stages_come_in_order_before_the_first_step(digits):
    events = digits.events
    started = of_type(events, RunStarted)[0]
    first_step = of_type(events, Step)[0]
    before = events[:events.index(first_step)]
    assert [(e.stage, e.text) for e in of_type(before, Preparing)] == [
        ("loading_data", "Loading the dataset digits…"),
        ("loading_data", "Loaded digits: classification, features [1, 8, 8], 10 classes; "
                         "1,437 train / 360 val / 0 test"),
        ("compiling", "Compiling the graph (9 nodes)…"),
        ("first_step", f"Running the first step on {started.device_name}…")]
    assert [type(e) for e in before] == [Preparing, Preparing, Preparing, RunStarted, Preparing]
    assert not of_type(events[events.index(first_step):], Preparing)


def test_the_first_step_is_published_at_once_and_later_ones_keep_their_pace(digits):
    """step_interval is 60 s here: the first Step comes right after optimizer step 1; the next only
    when the epoch ends (it flushes), carrying the 22 steps in between."""
    steps = of_type(digits.events, Step)
    assert (steps[0].step, len(steps[0].losses), steps[0].epoch) == (1, 1, 1)
    assert [(s.step, len(s.losses)) for s in steps[1:]] == [(DIGITS_STEPS, DIGITS_STEPS - 1),
                                                           (2 * DIGITS_STEPS, DIGITS_STEPS)]


# --- evaluation.json --------------------------------------------------------------------------------


def test_evaluation_json_holds_the_last_validated_epoch(digits):
    """Written with the first epoch, then at most once a second with the summary (epoch 2 came sooner),
    and at the end: the run's last validated epoch."""
    assert digits.evaluations[0] == 1
    evaluation = read_evaluation(digits.run_dir)
    last = of_type(digits.events, EpochEnd)[-1]
    assert evaluation["epoch"] == 2 and evaluation["task"] == "classification"
    assert evaluation["metrics"] == last.metrics == {k: v for k, v in digits.history[-1].items() if k != "epoch"}
    assert evaluation["classes"] == [str(i) for i in range(10)]
    assert evaluation["confusion"] == last.details["confusion"]
    assert np.array(evaluation["confusion"]).sum() == 360
    assert evaluation["per_class"] == last.details["per_class"]


@pytest.mark.parametrize("classes, kept", [(CONFUSION_MAX_CLASSES, True), (CONFUSION_MAX_CLASSES + 1, False)])
def test_evaluation_json_leaves_out_a_confusion_matrix_of_more_than_200_classes(tmp_path, classes, kept):
    names = [f"c{i}" for i in range(classes)]
    details = {"confusion": np.eye(classes, dtype=int).tolist(), "per_class": {"f1": [1.0] * classes}}
    RunFolder(tmp_path).write_evaluation(3, "classification", {"val_accuracy": 1.0}, names, details)
    evaluation = read_evaluation(tmp_path)
    assert ("confusion" in evaluation) == kept
    assert evaluation["per_class"]["f1"] == [1.0] * classes and evaluation["classes"] == names
    assert (evaluation["epoch"], evaluation["metrics"]) == (3, {"val_accuracy": 1.0})


def test_a_regression_run_writes_no_evaluation(tmp_path):
    graph = example("regression_mlp")
    result, _ = train(graph, config_of(graph, epochs=1), run_root=tmp_path)
    assert isinstance(result, Finished) and read_evaluation(result.run_dir) is None
    assert not (Path(result.run_dir) / "evaluation.json").exists()


# --- older and damaged run folders ------------------------------------------------------------------


def _write(folder: Path, files: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        data = content if isinstance(content, (str, bytes)) else json.dumps(content)
        (folder / name).write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return folder


OLD_SUMMARY = {"status": "finished", "message": "finished; best val_accuracy 0.9 at epoch 2", "epoch": 2,
               "epochs": 2, "step": 46, "best": {"metric": "val_accuracy", "value": 0.9, "epoch": 2},
               "last": {"epoch": 2}, "test": {}, "updated": "2024-03-01T10:00:05"}
OLD_METRICS = "epoch,step,time_s,train_s,lr,train_loss,val_accuracy\n1,23,1.5,1.2,0.001,0.9,0.8\n" \
              "2,46,3.25,2.4,0.001,0.5,0.9\n"


def test_a_run_from_before_the_new_fields_reads_as_before(tmp_path):
    run = _write(tmp_path / "digits-mlp-20240301-100000", {
        "summary.json": OLD_SUMMARY, "config.json": {"training": {"epochs": 2}, "monitor": "val_accuracy"},
        "metrics.csv": OLD_METRICS, "graph.llgraph.json": {"name": "Digits MLP"}})
    info = read_run(run)
    assert (info.status, info.epoch, info.epochs, info.best_value) == ("completed", 2, 2, 0.9)
    assert info.duration_s == 3.25                       # metrics.csv's time_s, as the list showed it
    assert info.started == datetime(2024, 3, 1, 10, 0, 0).timestamp()  # the folder's time stamp
    assert (info.started_at, info.ended_at, info.reason, info.source) == (None, None, None, None)
    assert info.legacy and info.graph_name == "Digits MLP"
    assert read_evaluation(run) is None


@pytest.mark.parametrize("files", [
    {"summary.json": b"\xff\xfe{not json", "config.json": "[1, 2]", "metrics.csv": b"epoch,step\n\x00\xff,\n1"},
    {"summary.json": {"status": 5, "started_at": 12, "ended_at": ["x"], "duration_s": "long", "best": "x",
                      "source": 3, "graph": None, "reason": {}, "epoch": "two"},
     "config.json": {"training": "x", "source": ["a"]}, "graph.llgraph.json": "{\"name\": 5",
     "evaluation.json": "{\"epoch\": 2, \"confusion\": [[1,", "steps.csv": "step,epoch,loss,lr\n1,1,0.5\nzz\n"},
    {"summary.json": {"status": "finished", "started_at": "yesterday", "duration_s": float("nan")},
     "evaluation.json": "[1]", "steps.csv": b"\x00\x01\x02", "metrics.csv": "epoch,step,time_s\n1,2,inf\n"},
])
def test_damaged_files_give_fewer_facts_never_an_error(tmp_path, files):
    run = _write(tmp_path / "digits-mlp-20240301-100000", files)
    info = read_run(run)
    assert info.path == run and info.status in ("completed", "incomplete", "early stopped")
    assert info.started_at in (None, "yesterday") and info.source is None
    assert info.duration_s is None or np.isfinite(info.duration_s)
    assert read_evaluation(run) is None
    curves = RunCurves.from_run_dir(run)
    assert len(curves.steps) == len(curves.losses) <= 1
    assert [r.path for r in scan_runs(tmp_path)] == [run]
    assert latest_run(tmp_path, tmp_path / "x.llgraph.json", "x") is None


# --- the runs of a graph ----------------------------------------------------------------------------


def _run(root: Path, name: str, graph: str, started: str | None = None, source: str | None = None,
         reason: str = "completed") -> Path:
    """A finished run of ``graph``; ``started`` None: an older run, written before the new fields."""
    summary = OLD_SUMMARY if started is None else {
        **OLD_SUMMARY, "reason": reason, "graph": graph, "source": source, "started_at": started,
        "ended_at": started, "duration_s": 1.0}
    return _write(root / name, {"summary.json": summary, "config.json": {"training": {"epochs": 2}},
                                "graph.llgraph.json": {"name": graph}})


@pytest.fixture
def shared_folder(tmp_path):
    """One runs folder holding the runs of graphs A (a.llgraph.json) and B, an unsaved graph named like
    A, and an older run of A from before runs recorded their source."""
    root = tmp_path / "runs"
    a, b = tmp_path / "a.llgraph.json", tmp_path / "models" / "b.llgraph.json"
    b.parent.mkdir()
    runs = SimpleNamespace(root=root, a=a, b_file=b)
    runs.legacy_a = _run(root, "a-20240101-090000", "A")
    runs.old_a = _run(root, "a-20250101-090000", "A", "2025-01-01T09:00:00+01:00", str(a))
    runs.new_a = _run(root, "a-20250102-090000", "A", "2025-01-02T09:00:00+01:00", str(a), reason="stopped")
    runs.unsaved = _run(root, "a-20250103-090000", "A", "2025-01-03T09:00:00+01:00", None)
    runs.b_run = _run(root, "b-20250104-090000", "B", "2025-01-04T09:00:00+01:00", str(b))
    return runs


def test_latest_run_picks_the_graphs_own_newest_run(shared_folder, monkeypatch):
    runs = shared_folder
    assert latest_run(runs.root, runs.a, "A").path == runs.new_a     # not B's newer one, not the unsaved one
    assert latest_run(runs.root, runs.b_file, "B").path == runs.b_run
    assert latest_run(runs.root, runs.root.parent / "c.llgraph.json", "C") is None
    assert latest_run(runs.root, None, "A").path == runs.unsaved      # an unsaved graph: runs without a source
    assert latest_run(runs.root, None, "B") is None
    monkeypatch.chdir(runs.b_file.parent)                             # the same file by another path
    assert latest_run(runs.root, Path("..") / "models" / "b.llgraph.json", "B").path == runs.b_run
    assert latest_run(runs.root / "missing", runs.a, "A") is None


def test_runs_of_lists_a_graphs_runs_newest_first(shared_folder):
    runs = shared_folder
    # A's recorded runs, then the older run that could not record its source but bears A's name
    assert [r.path for r in runs_of(runs.root, runs.a, "A")] == [runs.new_a, runs.old_a, runs.legacy_a]
    assert [r.path for r in runs_of(runs.root, runs.a, "renamed")] == [runs.new_a, runs.old_a]
    assert [r.path for r in runs_of(runs.root, None, "A")] == [runs.unsaved, runs.legacy_a]
    assert [r.path for r in runs_of(runs.root, runs.b_file, "B")] == [runs.b_run]
    assert runs_of(runs.root, runs.a, "A")[0].reason == "stopped"


# --- no torch, no Qt --------------------------------------------------------------------------------

WITHOUT_TORCH_OR_QT = BLOCK_TORCH + """
for name in ("PySide6", "shiboken6", "pyqtgraph", "layerloom.nodeeditor"):
    sys.modules[name] = None
import contextlib, io, json, pathlib, tempfile
import layerloom.training.records as records
from layerloom.cli.main import main
from layerloom.model.graph import Graph
from layerloom.training.records import (RunCurves, RunFolder, latest_run, new_run_dir, read_evaluation, read_run,
                                        runs_of, scan_runs)

for part in ("run_format", "run_reader", "run_curves", "run_writer"):   # the whole run-folder module
    assert "layerloom.training." + part in sys.modules, part
assert all(hasattr(records, name) for name in records.__all__)

with tempfile.TemporaryDirectory() as folder:
    run = pathlib.Path(folder) / "a-20250101-090000"
    run.mkdir()
    source = str(pathlib.Path(folder) / "a.llgraph.json")
    (run / "summary.json").write_text(json.dumps({"status": "finished", "reason": "early_stopped", "graph": "A",
        "source": source, "started_at": "2025-01-01T09:00:00+01:00", "duration_s": 2.5, "epoch": 1}))
    (run / "graph.llgraph.json").write_text(json.dumps({"name": "A"}))
    (run / "metrics.csv").write_text("epoch,step,time_s,train_s,lr,train_loss\\n1,3,2.5,2.0,0.1,0.5\\n")
    (run / "steps.csv").write_text("step,epoch,loss,lr\\n1,1,0.9,0.1\\n2,1,0.7,0.1\\n3,1,0.5,0.1\\n")
    (run / "evaluation.json").write_text(json.dumps({"epoch": 1, "confusion": [[1, 0], [0, 1]]}))
    info = read_run(run)
    assert (info.status, info.duration_s, info.source) == ("early stopped", 2.5, source), info
    assert latest_run(folder, source, "A").path == run and runs_of(folder, source)[0].path == run
    assert len(scan_runs(folder)) == 1 and read_evaluation(run)["confusion"] == [[1, 0], [0, 1]]
    curves = RunCurves.from_run_dir(run)
    assert curves.losses.tolist() == [0.9, 0.7, 0.5] and curves.metrics["train_loss"] == [0.5]

    # the writer: every file but a checkpoint's weights, then resumed from epoch 1
    written = RunFolder(new_run_dir(folder, "B graph"))
    written.write_graph(Graph(name="B"))
    written.write_json("config.json", {"graph": "B", "source": None, "training": {"epochs": 3}})
    for epoch in (1, 2):
        written.append_steps([(2 * epoch - 1, epoch, 0.8 / epoch, 0.1), (2 * epoch, epoch, 0.6 / epoch, 0.1)])
        written.append_epoch({"epoch": epoch, "step": 2 * epoch, "time_s": 1.0 * epoch, "val_accuracy": 0.4 * epoch})
    written.write_evaluation(2, "classification", {"val_accuracy": 0.8}, ["x", "y"], {"confusion": [[2, 0], [1, 1]]})
    written.write_json("summary.json", {"status": "stopped", "reason": "stopped", "graph": "B", "source": None,
        "started_at": records.iso_time(), "ended_at": records.iso_time(), "duration_s": 2.0, "epoch": 2, "epochs": 3,
        "best": {"metric": "val_accuracy", "value": 0.8, "epoch": 2}})
    written.truncate_after(1, 2)
    written.close()
    back = read_run(written.path)
    assert (back.graph_name, back.status, back.epochs_text(), back.best_text()) == ("B", "stopped", "2/3",
                                                                                    "val_accuracy 0.8 @ 2"), back
    curves = RunCurves.from_run_dir(written.path)
    assert curves.steps.tolist() == [1, 2] and curves.metrics["val_accuracy"] == [0.4], curves
    assert read_evaluation(written.path)["confusion"] == [[2, 0], [1, 1]]

    # layerloom-cli runs, on the same folder
    with contextlib.redirect_stdout(io.StringIO()) as out:
        assert main(["runs", "--json", folder]) == 0
    listed = json.loads(out.getvalue())["runs"]
    assert [r["name"] for r in listed] == [written.path.name, run.name], listed
    with contextlib.redirect_stdout(io.StringIO()) as out:
        assert main(["runs", folder]) == 0
    assert "early stopped" in out.getvalue() and "2 runs in" in out.getvalue(), out.getvalue()
assert "torch" not in sys.modules and sys.modules["PySide6"] is None  # blocked, never imported
print("ok")
"""


def test_the_run_folder_module_and_the_cli_runs_command_need_neither_torch_nor_qt():
    result = subprocess.run([sys.executable, "-c", WITHOUT_TORCH_OR_QT], capture_output=True, text=True, cwd=ROOT,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


# --- one owner ---------------------------------------------------------------------------------------

def test_only_the_run_folder_module_spells_the_run_folders_file_names():
    """Everything else reads and writes a run folder through ``layerloom.training.records`` (the CLI,
    the Runs list, the charts, the trainer): a second reader or writer would spell a file's name again."""
    import ast

    names = {"summary.json", "config.json", "metrics.csv", "steps.csv", "evaluation.json", "graph.llgraph.json"}
    found = []
    for path in [*(ROOT / "runtime").rglob("*.py"), *(ROOT / "nodeeditor").rglob("*.py")]:
        if path.name != "run_format.py":
            found += [f"{path.relative_to(ROOT)}:{node.lineno}: {node.value!r}"
                      for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
                      if isinstance(node, ast.Constant) and isinstance(node.value, str)
                      and node.value.strip("/\\") in names]
    assert found == []


def test_which_runs_can_be_continued_and_why_not(tmp_path):
    """Continue Training is offered for a run with a last.pt that ended early (to its planned epochs) or
    finished (to more); a running or diverged one says why not."""
    from layerloom.training.records import RunInfo

    folder = tmp_path / "run"
    (folder / "checkpoints").mkdir(parents=True)
    say = {status: RunInfo(folder, status=status).cannot_continue()
           for status in ("stopped", "failed", "incomplete", "running", "completed", "early stopped", "diverged")}
    assert say["stopped"] == say["failed"] == say["incomplete"] == "it saved no checkpoint: it stopped in its first epoch"
    (folder / "checkpoints" / "last.pt").write_bytes(b"")
    say = {status: RunInfo(folder, status=status).cannot_continue() for status in say}
    assert say["stopped"] is None and say["failed"] is None and say["incomplete"] is None
    assert say["running"] == "it is still training"
    assert say["completed"] is None and say["early stopped"] is None   # finished: it can train more epochs
    assert "diverged" in say["diverged"]
    assert RunInfo(folder, status="stopped").ended_early and not RunInfo(folder, status="completed").ended_early
