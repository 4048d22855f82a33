"""Malformed and hostile checkpoints on every path that loads one (issue 15, item 5).

One small run is trained once; each case damages a copy of its ``last.pt`` and then loads it the ways a
user can: ``layerloom-cli train --resume``, ``layerloom-cli export --checkpoint``, ``layerloom.training.inference``
(the editor's Try it and "Load checkpoint" build the same ``Predictor``) and ``load_exportable``. Each
must end in the project's ``CheckpointError`` (the CLI: ``error: ...``, no traceback) naming the file
and what is wrong; defects only a resume reads (optimizer, schedule, random streams) must not stop
trying or exporting the weights.
"""

from __future__ import annotations

import copy
import hashlib
import os
import pickle
import shutil
from pathlib import Path

import pytest
import torch
from helpers import mlp_graph

from layerloom.cli.main import main
from layerloom.core.errors import LayerLoomError
from layerloom.training.inference import Predictor
from layerloom.training import CheckpointError, Failed, TrainingSession, load_checkpoint

TRAINING = {"dataset": {"name": "iris", "val_split": 0.2}, "epochs": 2, "batch_size": 32,
            "optimizer": {"name": "adam", "lr": 0.01}, "seed": 0}


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A finished two-epoch iris run folder (small MLP: a second to train)."""
    graph = mlp_graph(hidden=8, classes=3, features=4)
    graph.training = dict(TRAINING)
    root = tmp_path_factory.mktemp("runs")
    session = TrainingSession(graph, run_root=root)
    result = session.run()
    assert not isinstance(result, Failed), result
    return Path(result.run_dir)


@pytest.fixture
def run(trained, tmp_path) -> Path:
    """A copy of the trained run folder, free to damage."""
    return Path(shutil.copytree(trained, tmp_path / "run"))


def _good(run: Path) -> dict:
    return torch.load(run / "checkpoints" / "last.pt", weights_only=True)


def _first_weight(data: dict) -> str:
    return next(iter(data["weights"]))


class _Payload:
    """Makes a folder when unpickled: proof that a file ran code."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (os.mkdir, (self.path,))


def _set(key, value):
    return lambda d: d.__setitem__(key, value)


def _weight(value):
    return lambda d: d["weights"].__setitem__(_first_weight(d), value)


def _fill(number):
    return lambda d: d["weights"][_first_weight(d)].fill_(number)


# (case, change to the payload, what every loader says, or None when only a resume is refused)
PAYLOAD_CASES = [
    ("str_weight", _weight("x"), r"weights 'fc1\.weight' is a str, not a tensor"),
    ("weights_list", _set("weights", [1, 2]), r"'weights' should map parameter names to tensors, not be a list"),
    ("epoch_text", _set("epoch", "abc"), r"'epoch' should be a whole number of epochs, not 'abc'"),
    ("epoch_negative", _set("epoch", -3), r"'epoch' should be a whole number of epochs, not -3"),
    ("no_weights", lambda d: d.pop("weights"), r"the checkpoint has no 'weights'"),
    ("no_graph", lambda d: d.pop("graph"), r"the checkpoint has no 'graph'"),
    ("no_epoch", lambda d: d.pop("epoch"), r"the checkpoint has no 'epoch'"),
    ("graph_text", _set("graph", "x"), r"'graph' should be a graph \(a JSON object\), not a str"),
    ("graph_damaged", _set("graph", {"nodes": 3}), r"the graph stored in the checkpoint cannot be read"),
    ("wrong_shape", _weight(torch.zeros(3)), r"the weights do not fit this graph \(different shapes: fc1\.weight"),
    ("missing_tensor", lambda d: d["weights"].pop(_first_weight(d)), r"the weights do not fit this graph \(missing fc1\.weight"),
    ("nan", _fill(float("nan")), r"the weights hold 32 NaN values in 'fc1\.weight'"),
    ("inf", _fill(float("inf")), r"the weights hold 32 infinite values in 'fc1\.weight'"),
    ("version_bool", _set("version", True), r"version True is not a version number"),
    ("version_future", _set("version", 99), r"checkpoint version 99 is newer"),
    ("config_damaged", _set("config", {"epochs": "many"}), r"training settings stored in the checkpoint are damaged: "
                                                           r"training\.epochs"),
    ("dataset_text", _set("dataset", "iris"), r"'dataset' should be a JSON object, not a str"),
    # read by a resume alone
    ("optimizer_state", _set("optimizer", {"state": "x"}), None),
    ("optimizer_missing", lambda d: d.pop("optimizer"), None),
    ("optimizer_shapes", lambda d: [s.__setitem__("exp_avg", torch.zeros(2)) for s in d["optimizer"]["state"].values()],
     None),
    ("rng_float", _set("rng", {"torch": torch.zeros(3)}), None),
    ("rng_bytes", _set("rng", {"torch": torch.zeros(3, dtype=torch.uint8)}), None),
    ("schedule_text", _set("schedule", {"steps": "x"}), None),
    ("best_text", _set("best", "x"), None),
    ("history_number", _set("history", 5), None),
    ("elapsed_text", _set("elapsed_s", "long"), None),
]

EXPORT_IGNORES = {"config_damaged"}   # export reads the weights and the graph, not the training settings

RESUME_SAYS = {
    "optimizer_state": r"the optimizer state has no 'state' table",
    "optimizer_missing": r"holds no optimizer state, so the run cannot continue from it",
    "optimizer_shapes": r"the adam optimizer state in the checkpoint is damaged or does not fit this graph",
    "rng_float": r"the random state 'torch' should be a byte tensor, not a float32 tensor",
    "rng_bytes": r"the random state in the checkpoint is damaged",
    "schedule_text": r"the schedule's 'steps' should be a whole number, not 'x'",
    "best_text": r"'best' should be a JSON object, not a str",
    "history_number": r"'history' should be a list of per-epoch records",
    "elapsed_text": r"'elapsed_s' should be a number of seconds, not 'long'",
}


def _damage(run: Path, change) -> Path:
    data = copy.deepcopy(_good(run))
    change(data)
    path = run / "checkpoints" / "last.pt"
    torch.save(data, path)
    (run / "checkpoints" / "best.pt").unlink()   # the run's weights are last.pt's
    return path


def _hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _cli(capsys, *argv) -> tuple[int, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.err


@pytest.mark.parametrize("case, change, says", PAYLOAD_CASES, ids=[c[0] for c in PAYLOAD_CASES])
def test_a_damaged_checkpoint_is_refused_by_name_on_every_path(run, tmp_path, capsys, case, change, says):
    path = _damage(run, change)
    before = _hashes(run)

    # layerloom-cli train --resume: a refused resume leaves the run folder as it was
    code, err = _cli(capsys, "train", "--resume", str(run), "--epochs", "4", "-q")
    resume_says = says or RESUME_SAYS[case]
    assert code == 1
    assert err.startswith(f"error: {path}: ") and "Traceback" not in err, err
    assert _search(resume_says, err), err
    assert _hashes(run) == before

    if says is None:  # only a resume reads it: the weights still load, for trying and exporting
        predictor = Predictor.from_checkpoint(path)
        assert predictor.trained and predictor.weights_epoch == 2
        return
    with pytest.raises(CheckpointError) as caught:
        Predictor.from_checkpoint(path)
    assert str(caught.value).startswith(f"{path}: ") and _search(says, str(caught.value))
    if case in EXPORT_IGNORES:
        return
    with pytest.raises(LayerLoomError) as caught:
        from layerloom.export.source import load_exportable
        load_exportable(path)
    assert str(path) in str(caught.value) and _search(says, str(caught.value))
    code, err = _cli(capsys, "export", str(path), "--python", str(tmp_path / "model.py"))
    assert code != 0 and str(path) in err and "Traceback" not in err, err
    assert not (tmp_path / "model.py").exists()


def _search(pattern: str, text: str) -> bool:
    import re
    return re.search(pattern, text) is not None


def test_the_editor_path_predicts_from_a_run_folder_and_names_its_damage(run):
    """The editor's Try it builds ``Predictor.from_checkpoint(run folder)`` and shows ``str(error)``."""
    assert Predictor.from_checkpoint(run).trained
    _damage(run, _fill(float("nan")))
    with pytest.raises(CheckpointError, match=r"last\.pt: the weights hold 32 NaN values in 'fc1\.weight'"):
        Predictor.from_checkpoint(run)


@pytest.mark.parametrize("case", ["empty", "truncated", "not_a_dict", "foreign_dict", "fifo"])
def test_unreadable_files_are_refused_by_name(run, tmp_path, capsys, case):
    path = tmp_path / "bad.pt"
    good = (run / "checkpoints" / "last.pt").read_bytes()
    says = {"empty": r"the file is empty", "truncated": r"the file is truncated or damaged",
            "not_a_dict": r"not a LayerLoom checkpoint", "foreign_dict": r"not a LayerLoom checkpoint",
            "fifo": r"not a checkpoint file: not a regular file \(a named pipe\)"}[case]
    if case == "empty":
        path.write_bytes(b"")
    elif case == "truncated":
        path.write_bytes(good[: len(good) // 2])
    elif case == "not_a_dict":
        torch.save([1, 2, 3], path)
    elif case == "foreign_dict":
        torch.save({"state_dict": {"w": torch.zeros(2)}}, path)
    else:  # nobody writes to it: opening it would wait forever
        os.mkfifo(path)
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(path)
    assert str(caught.value).startswith(f"{path}: ") and _search(says, str(caught.value))
    code, err = _cli(capsys, "train", "--resume", str(path), "--epochs", "4", "-q")
    assert code == 1 and err.startswith(f"error: {path}: ") and "Traceback" not in err, err
    code, err = _cli(capsys, "export", str(path), "--python", str(tmp_path / "m.py"))
    assert code != 0 and str(path) in err and "Traceback" not in err, err


@pytest.mark.parametrize("writer", ["pickle", "torch.save"])
def test_a_pickle_payload_is_refused_on_every_path_without_running(run, tmp_path, capsys, writer):
    marker = tmp_path / "pwned"
    data = _good(run)
    data["extra"] = _Payload(str(marker))
    path = tmp_path / "evil.pt"
    if writer == "pickle":
        path.write_bytes(pickle.dumps(data, protocol=4))
    else:
        torch.save(data, path)
    says = r"refused: (the file asks to load Python code|a bare Python pickle, not a LayerLoom checkpoint)"
    with pytest.raises(CheckpointError, match=says):
        Predictor.from_checkpoint(path)
    code, err = _cli(capsys, "train", "--resume", str(path), "--epochs", "4", "-q")
    assert code == 1 and _search(says, err) and "weights_only=False" not in err and "Warning" not in err, err
    code, err = _cli(capsys, "export", str(path), "--python", str(tmp_path / "m.py"))
    assert code != 0 and _search(says, err), err
    assert not marker.exists()


def test_a_sound_checkpoint_still_resumes_exports_and_predicts(run, tmp_path, capsys):
    code, err = _cli(capsys, "train", "--resume", str(run), "--epochs", "3", "-q")
    assert code == 0, err
    assert load_checkpoint(run)["epoch"] == 3
    code, err = _cli(capsys, "export", str(run), "--python", str(tmp_path / "m.py"))
    assert code == 0 and (tmp_path / "m.py").is_file(), err
    assert Predictor.from_checkpoint(run).weights_epoch == 3
