"""The run header says how many threads a CPU run trains with and why (the processor in its tooltip)."""

from __future__ import annotations

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
    assert label.text() == "Device: CPU, 1 thread (faster than 2 on this busy machine)"
    assert label.toolTip() == "CPU (x86_64, 1 thread)" and label.isVisible()
    # another count, a GPU, an older event without threads
    assert device_text(started(threads=2, reason="as asked"))[0] == "CPU, 2 threads (as asked)"
    assert device_text(started("cuda", "NVIDIA H100", "bf16", threads=1, reason="training on CUDA")) == \
        ("NVIDIA H100, bf16", "")
    assert device_text(started(threads=0, reason=""))[0] == "CPU (x86_64, 1 thread)"
