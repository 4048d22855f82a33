"""The ``compile`` training setting: a round trip through the settings, and the fallbacks with their notes.

Nothing here really compiles (Inductor takes ~20 s on this machine): ``torch.compile`` is replaced by
stand-ins that work, fail at once, or fail in the middle of the run; ``benchmarks/bench_mnist.py --compile``
measures the real thing.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from helpers import mlp_graph

import layerloom.training.compiling as compiling
from layerloom.training import Finished, Note, RunStarted, TrainingConfig, TrainingSession
from layerloom.training.config import TrainingSettingsError
from layerloom.training.runs import load_checkpoint

TRAINING = {"dataset": {"name": "iris", "val_split": 0.2}, "epochs": 2, "batch_size": 16,
            "optimizer": {"name": "adam", "lr": 0.01}, "seed": 0}


def _run(tmp_path=None, **training):
    graph = mlp_graph(hidden=8, classes=3, features=4)
    graph.training = {**TRAINING, **training}
    session = TrainingSession(graph, run_root=tmp_path, threads=1)
    result = session.run()
    session.drained = session.events.drain()
    notes = next(e for e in session.drained if isinstance(e, RunStarted)).notes
    return session, result, notes


def test_the_setting_round_trips_and_is_off_by_default():
    assert TrainingConfig().compile == "off"
    for value in ("on", "auto", "off"):
        config = TrainingConfig.from_dict({"compile": value})
        assert config.compile == value and config.to_dict()["compile"] == value
        assert TrainingConfig.from_dict(config.to_dict()) == config
    with pytest.raises(TrainingSettingsError) as caught:
        TrainingConfig.from_dict({"compile": "yes"})
    assert caught.value.errors[0].startswith("training.compile:")
    assert not compiling.wants_compile("auto", torch.device("cpu"))
    assert compiling.wants_compile("auto", torch.device("cuda")) and compiling.wants_compile("on", torch.device("cpu"))


def test_a_compiler_that_fails_leaves_a_note_and_the_run_trains_uncompiled(monkeypatch):
    def broken(module, **_):
        def call(*args):
            raise RuntimeError("InductorError: no working C++ toolchain\nmore detail")
        return call

    monkeypatch.setattr(torch, "compile", broken)
    session, result, notes = _run(compile="on")
    assert isinstance(result, Finished), result
    assert "compile: training uncompiled: torch.compile failed (RuntimeError: InductorError: no working C++ " \
           "toolchain)" in notes
    assert session.trainer.forward is session.trainer.criterion


def test_without_a_cpp_compiler_it_does_not_try(monkeypatch, tmp_path):
    tried = []
    monkeypatch.setattr(torch, "compile", lambda module, **_: tried.append(module) or module)
    monkeypatch.setattr(compiling, "cpp_compiler", lambda: None)
    _, result, notes = _run(tmp_path, compile="on")
    assert isinstance(result, Finished) and not tried
    assert any("no C++ compiler found" in note for note in notes), notes
    # the run folder says how it really trained, not only that compile was "on"
    record = json.loads((Path(result.run_dir) / "config.json").read_text())
    assert record["training"]["compile"] == "on" and any("no C++ compiler found" in n for n in record["notes"])


def test_onnx_operator_nodes_keep_a_graph_uncompiled():
    class OnnxOperator(torch.nn.Module):   # what the ONNX-operator node builds (catalog.builtin.onnx_torch)
        pass

    model = torch.nn.Sequential(torch.nn.Linear(2, 2), OnnxOperator())
    assert "ONNX operator nodes" in compiling.compile_blocker(model, torch.device("cpu"))
    assert compiling.compile_blocker(torch.nn.Linear(2, 2), torch.device("cpu")) is None or \
        compiling.cpp_compiler() is None


def test_the_trial_step_leaves_no_trace_and_checkpoints_hold_the_modules_own_names(monkeypatch, tmp_path):
    """A stand-in compiler that returns the module: the compiled run trains exactly like the plain one
    (the trial step's gradients, statistics and random draws were put back)."""
    calls = []

    class Wrapper(torch.nn.Module):   # like torch.compile's OptimizedModule: the module as _orig_mod
        def __init__(self, module):
            super().__init__()
            self._orig_mod = module

        def forward(self, *args):
            calls.append(len(args))
            return self._orig_mod(*args)

    monkeypatch.setattr(torch, "compile", lambda module, **_: Wrapper(module))
    plain, plain_result, _ = _run()
    compiled, result, notes = _run(tmp_path, compile="on")
    assert isinstance(result, Finished) and not [n for n in notes if n.startswith("compile")]
    assert calls and isinstance(compiled.trainer.forward, compiling.CompiledForward)
    assert compiled.trainer.history == plain.trainer.history
    weights = load_checkpoint(result.run_dir)["weights"]
    assert not [k for k in weights if k.startswith("_orig_mod")]
    assert all(torch.equal(weights[k], v) for k, v in plain.trainer.criterion.state_dict().items())


def test_a_compiled_step_that_fails_later_falls_back_for_the_rest_of_the_run(monkeypatch, tmp_path):
    seen = []

    def flaky(module, **_):
        def call(*args):
            seen.append(1)
            if len(seen) > 3:   # the trial and two steps work, then a recompile fails
                raise RuntimeError("recompile failed")
            return module(*args)
        return call

    monkeypatch.setattr(torch, "compile", flaky)
    session, result, _ = _run(tmp_path, compile="on")
    assert isinstance(result, Finished), result
    assert len(seen) == 4 and not session.trainer.forward.active
    # after RunStarted a note is an event of its own: the window and the CLI say it when it happens
    late = [e for e in session.drained if isinstance(e, Note)]
    assert len(late) == 1 and "failed during the run (RuntimeError: recompile failed)" in late[0].text
    assert late[0].step == 2 and late[0].threads == 0
    record = json.loads((Path(result.run_dir) / "config.json").read_text())
    assert record["notes"][-1] == f"epoch 1, step 2: {late[0].text}"   # the run folder says so too
