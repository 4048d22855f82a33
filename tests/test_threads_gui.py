"""The run header says how many threads a CPU run trains with and why (the processor in its tooltip)."""

from __future__ import annotations

import dataclasses

import pytest
from layerloom.nodeeditor.dashboard.run_header import RunHeader
from layerloom.nodeeditor.dashboard.run_texts import device_text
from layerloom.training.events import RunStarted

pytestmark = pytest.mark.gui


def started(device="cpu", name="CPU (x86_64, 1 thread)", precision="fp32", threads=1,
            reason="faster than 2 on this busy machine") -> RunStarted:
    return RunStarted(None, device, name, precision, 5, 0, 23, 1437, 360, 100, "classification", None, "digits",
                      threads=threads, threads_reason=reason)


def test_the_header_shows_the_threads_and_why(qtbot):
    header = RunHeader()
    qtbot.addWidget(header)
    header.resize(1300, 120)
    header.show()
    header.set_device(*device_text(started()))
    label = header.device_label
    assert label.text() == "Device: CPU, 1 thread"     # short: the progress bar beside it keeps its room
    assert label.toolTip() == "1 thread (faster than 2 on this busy machine)\nCPU (x86_64)"   # the count once
    assert label.isVisible()
    # another count, a GPU, an older event without threads
    assert device_text(started(threads=2, reason="as asked")) == ("CPU, 2 threads",
                                                                  "2 threads (as asked)\nCPU (x86_64)")
    assert device_text(started("cuda", "NVIDIA H100", "bf16", threads=1, reason="training on CUDA")) == \
        ("NVIDIA H100, bf16", "")
    assert device_text(started(threads=0, reason=""))[0] == "CPU (x86_64, 1 thread)"
    # a network trained channels-last says so and why (layerloom.training.memory_format)
    cnn = dataclasses.replace(started(), memory_format="channels_last", memory_format_reason="2-D convolutions")
    assert device_text(cnn)[1].endswith("\nlayout: channels-last (2-D convolutions)")
    assert device_text(dataclasses.replace(cnn, device="cuda", device_name="NVIDIA H100")) == \
        ("NVIDIA H100", "layout: channels-last (2-D convolutions)")
    kept = dataclasses.replace(cnn, memory_format="contiguous",
                               memory_format_reason="channels-last measured 0.80x its speed: slower")
    assert device_text(kept)[1].endswith("\nlayout: default layout (channels-last measured 0.80x its speed: slower)")
    mlp = dataclasses.replace(cnn, memory_format="contiguous", memory_format_reason="no 2-D convolutions")
    assert "layout" not in device_text(mlp)[1]   # nothing to say for a network without convolutions


def test_the_progress_text_stays_on_one_line_beside_a_long_device_name(qtbot):
    from types import SimpleNamespace

    header = RunHeader()
    qtbot.addWidget(header)
    header.resize(920, 120)    # the Train workspace's header at 1366x768 with its dock open
    header.show()
    header.set_device(*device_text(started()))
    run = started()
    header.show_progress(SimpleNamespace(progress=0.03, epoch=84, step=19320, eta_s=60.0, loss=0.1,
                                         samples_per_s=75000.0, lr=0.001), run)
    qtbot.waitExposed(header)
    qtbot.wait(20)             # laid out
    text = header.progress.text()
    assert text == "epoch 84/5  ·  step 19,320/115"
    assert header.progress.fontMetrics().horizontalAdvance(text) < header.progress.width()
