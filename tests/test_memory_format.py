"""The ``memory_format`` setting (layerloom.training.memory_format): convolutional networks train
channels-last where that is faster, with the same results, and a network that cannot is trained in the
default layout with a note. An optimizer state in another layout than its parameter is realigned (the
fused Adam kernel would otherwise pair the wrong elements, silently)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn
from train_helpers import after_setup, config_of, example

import layerloom.training.memory_format as memory_format
import layerloom.training.trainer as trainer_module
from layerloom.training import Finished, Preparing, RunStarted, TrainingConfig, TrainingSettingsError, train
from layerloom.training.memory_format import (CHANNELS_LAST, CONTIGUOUS, LayoutChoice, choose_layout,
                                              layout_for_training, match_state_layout)

CNN = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))
MLP = nn.Sequential(nn.Linear(4, 3))


@pytest.mark.parametrize("setting, module, device, precision, expected", [   # auto on the CPU: measured
    ("auto", CNN, "cpu", "fp32", CHANNELS_LAST),
    ("auto", MLP, "cpu", "fp32", CONTIGUOUS),
    ("auto", CNN, "cuda", "fp32", CONTIGUOUS),
    ("auto", CNN, "cuda", "bf16", CHANNELS_LAST),
    ("channels_last", CNN, "cuda", "fp32", CHANNELS_LAST),
    ("channels_last", MLP, "cpu", "fp32", CONTIGUOUS),
    ("contiguous", CNN, "cpu", "fp32", CONTIGUOUS),
])
def test_the_layout_follows_the_setting_the_network_and_the_device(setting, module, device, precision, expected):
    choice = choose_layout(setting, module, device, precision)
    assert choice.memory_format == expected and choice.reason


class Clock:
    """A fake clock: each trial advances it by the time its layout takes (seconds)."""

    def __init__(self, module, seconds: dict[bool, float]):
        self.module, self.seconds, self.now, self.trials = module, seconds, 0.0, []

    def __call__(self):
        return self.now

    def trial(self):
        channels_last = not self.module[0].weight.is_contiguous()
        self.trials.append(channels_last)
        self.now += self.seconds[channels_last]


def _measured(seconds: dict[bool, float], run_steps: int = 1000):
    module = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))
    clock = Clock(module, seconds)
    notes = []
    choice = layout_for_training(module, choose_layout("auto", module, "cpu"), clock.trial, notes.append,
                                 run_steps=run_steps, clock=clock)
    return module, clock, choice, notes


def test_auto_keeps_channels_last_where_it_measures_clearly_faster():
    module, clock, choice, notes = _measured({True: 0.010, False: 0.020})
    assert choice.memory_format == CHANNELS_LAST and "measured 2.00x the default layout's speed" in choice.reason and not notes
    assert not module[0].weight.is_contiguous()
    # warm-ups (default, then channels-last, which proves it), then two alternating timed rounds
    assert clock.trials == [False, True, True, False, True, False]


@pytest.mark.parametrize("slower, words", [(0.95, "1.05x its speed: not clearly faster"),   # over 0.9x the time
                                           (1.5, "0.67x its speed: slower")])
def test_auto_keeps_the_default_where_channels_last_does_not_pay(slower, words):
    module, clock, choice, notes = _measured({True: 0.010 * slower, False: 0.010})
    assert choice.memory_format == CONTIGUOUS and choice.reason == f"channels-last measured {words}"
    assert module[0].weight.is_contiguous() and not notes


def test_auto_does_not_measure_a_short_run():
    module, clock, choice, _ = _measured({True: 0.001, False: 1.0}, run_steps=50)
    assert choice.memory_format == CONTIGUOUS and "short run (50 steps)" in choice.reason
    assert clock.trials == [] and module[0].weight.is_contiguous()


def test_a_run_on_auto_says_what_it_measured(monkeypatch):
    monkeypatch.setattr(memory_format, "MEASURE_MIN_STEPS", 10)
    graph = example("digits_cnn")
    result, session = train(graph, config_of(graph, device="cpu", steps=12))
    assert isinstance(result, Finished), result
    events = session.events.drain()
    assert [e.stage for e in events if isinstance(e, Preparing)].count("measuring") == 1   # said while it takes
    started = after_setup(events)[0]
    assert "measured" in started.memory_format_reason
    assert started.memory_format == session.trainer.layout.memory_format


def test_a_bad_setting_is_refused_by_name():
    with pytest.raises(TrainingSettingsError, match="training.memory_format"):
        TrainingConfig.from_dict({"memory_format": "nhwc"})


class ViewFlatten(nn.Module):
    """A plugin-style flatten with ``view``, which needs NCHW strides."""

    def forward(self, x):
        return x.view(x.shape[0], -1)


def test_a_network_that_cannot_run_channels_last_falls_back_with_a_note():
    torch.manual_seed(0)
    module = nn.Sequential(nn.Conv2d(1, 4, 3), ViewFlatten(), nn.Linear(4 * 6 * 6, 3))
    notes = []

    def trial():
        module(torch.rand(2, 1, 8, 8)).sum().backward()

    choice = layout_for_training(module, LayoutChoice(CHANNELS_LAST, "test"), trial, notes.append)
    assert choice.memory_format == CONTIGUOUS
    assert module[0].weight.is_contiguous()
    assert len(notes) == 1 and "channels-last failed" in notes[0] and "view" in notes[0]
    trial()   # and the network runs as it did


def test_a_network_that_runs_channels_last_is_left_in_it():
    module = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))
    notes = []
    choice = layout_for_training(module, LayoutChoice(CHANNELS_LAST, "test"),
                                 lambda: module(torch.rand(2, 1, 8, 8)).sum().backward(), notes.append)
    assert choice.memory_format == CHANNELS_LAST and not notes
    assert module[0].weight.is_contiguous(memory_format=torch.channels_last)


def test_an_optimizer_state_in_another_layout_is_realigned_before_a_fused_step():
    """A checkpoint's Adam state saved contiguous, resumed channels-last (or the reverse): without the
    realignment the fused kernel's result is wrong by ~1e-3, with no error."""
    torch.manual_seed(0)
    reference = nn.Parameter(torch.randn(4, 3, 2, 2))
    param = nn.Parameter(reference.detach().clone())
    optimizers = [torch.optim.Adam([p], fused=True) for p in (reference, param)]
    first, second = torch.randn(4, 3, 2, 2), torch.randn(4, 3, 2, 2)
    for p, optimizer in zip((reference, param), optimizers):
        p.grad = first.clone()
        optimizer.step()
    param.data = param.data.contiguous(memory_format=torch.channels_last)   # the state stays contiguous
    assert match_state_layout(optimizers[1]) == 2   # exp_avg and exp_avg_sq
    assert match_state_layout(optimizers[1]) == 0
    reference.grad, param.grad = second.clone(), second.contiguous(memory_format=torch.channels_last)
    for optimizer in optimizers:
        optimizer.step()
    assert torch.allclose(param, reference, atol=1e-7)


@pytest.fixture(scope="module")
def cnn_runs(tmp_path_factory):
    """The digits CNN, one epoch, channels-last and contiguous, same seed."""
    graph = example("digits_cnn")
    runs = {}
    for setting in ("channels_last", "contiguous"):
        root = tmp_path_factory.mktemp(setting)
        result, session = train(graph, config_of(graph, device="cpu", epochs=1, memory_format=setting),
                                run_root=root)
        assert isinstance(result, Finished), result
        runs[setting] = (result, session, session.events.drain())
    return runs


def test_a_cnn_asked_to_train_channels_last_does_and_says_so(cnn_runs):
    result, session, events = cnn_runs["channels_last"]
    started = after_setup(events)[0]
    assert isinstance(started, RunStarted)
    assert started.memory_format == CHANNELS_LAST and started.memory_format_reason == "as asked"
    conv = max((m for m in session.trainer.criterion.modules() if isinstance(m, nn.Conv2d)),
               key=lambda m: m.in_channels)   # with 1 input channel both layouts have the same strides
    assert conv.weight.is_contiguous(memory_format=torch.channels_last) and not conv.weight.is_contiguous()
    record = json.loads((Path(result.run_dir) / "config.json").read_text())
    assert record["device"]["memory_format"]["memory_format"] == CHANNELS_LAST
    assert record["training"]["memory_format"] == "channels_last"
    assert after_setup(cnn_runs["contiguous"][2])[0].memory_format == CONTIGUOUS


def test_the_layout_changes_speed_not_results(cnn_runs):
    channels_last, contiguous = (cnn_runs[k][1].trainer for k in ("channels_last", "contiguous"))
    for a, b in zip(channels_last.history, contiguous.history):
        assert a.keys() == b.keys()
        for key in ("train_loss", "val_loss"):
            assert a[key] == pytest.approx(b[key], rel=1e-4)
    for (name, a), (_, b) in zip(channels_last.criterion.state_dict().items(),
                                 contiguous.criterion.state_dict().items()):
        assert torch.allclose(a, b, atol=1e-4), name


def test_a_run_resumed_in_the_other_layout_continues_exactly(cnn_runs, monkeypatch):
    """A contiguous run resumed where its setting resolves to channels-last (``auto`` on another
    machine: a CPU run continued with CUDA bf16, say): the optimizer state read from the checkpoint is
    realigned to the parameters' new layout, so the run goes on as it would have."""
    result, _, _ = cnn_runs["contiguous"]
    graph = example("digits_cnn")
    monkeypatch.setattr(trainer_module, "choose_layout", lambda *_: LayoutChoice(CHANNELS_LAST, "elsewhere"))
    resumed, again = train(None, config_of(graph, device="cpu", epochs=2), resume=result.run_dir)
    assert isinstance(resumed, Finished), resumed
    assert after_setup(again.events.drain())[0].memory_format == CHANNELS_LAST
    monkeypatch.undo()
    _, reference = train(graph, config_of(graph, device="cpu", epochs=2, memory_format="contiguous"))
    for (name, a), (_, b) in zip(again.trainer.criterion.state_dict().items(),
                                 reference.trainer.criterion.state_dict().items()):
        assert torch.allclose(a, b, atol=1e-4), name


def test_a_recorded_run_says_its_threads_and_layout_when_read_back(cnn_runs):
    """The window shows a past run's device as it trained (``read_started`` from config.json)."""
    from layerloom.training.records import read_started

    result, session, events = cnn_runs["channels_last"]
    live = after_setup(events)[0]
    started = read_started(result.run_dir)
    assert (started.memory_format, started.memory_format_reason) == (CHANNELS_LAST, "as asked")
    assert started.threads == live.threads and started.threads_reason == live.threads_reason
    assert (started.device, started.device_name) == (live.device, live.device_name)
