"""Training from the editor window vs headless, in one process (offscreen).

Trains the digits MLP from the dashboard (live charts, progress, evaluation: the whole GUI path)
while a 5 ms probe timer measures how long the event loop goes without running (from the run's first
steps to its end), then trains the same graph headless on a worker thread writing the same run
folder, interleaved over several rounds. Prints the GUI/headless
throughput ratio (training samples per second of the training steps) and the worst and 99th
percentile event-loop stall. Targets: ratio >= 0.85, worst stall < 50 ms.

    python benchmarks/bench_gui_training.py [--rounds 3] [--epochs 40]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QElapsedTimer, QEventLoop, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

PROBE_MS = 5


def throughput(ends, num_train: int) -> float:
    """Training samples per second over the epochs' training steps."""
    return num_train * len(ends) / sum(end.train_s for end in ends)


def gui_round(window, epochs: int) -> tuple[float, list[float]]:
    dashboard = window.dashboard
    ends, stalls = [], []
    clock = QElapsedTimer()
    probe = QTimer()
    probe.setInterval(PROBE_MS)

    def tick():
        elapsed = clock.restart()
        stalls.append(max(0.0, elapsed - PROBE_MS))

    probe.timeout.connect(tick)
    dashboard.panel.apply(None, "epochs", epochs)
    loop = QEventLoop()
    dashboard.runEnded.connect(loop.quit)
    assert dashboard.start()   # opens the charts dock: a one-off relayout, before the probe starts
    dashboard.bridge.epochEnded.connect(ends.append)

    def first_steps(_):  # the probe covers the training itself, from its first steps to its end
        dashboard.bridge.steps.disconnect(first_steps)
        clock.start()
        probe.start()

    dashboard.bridge.steps.connect(first_steps)
    loop.exec()   # the real event loop, as in the app: idle while waiting
    probe.stop()
    dashboard.runEnded.disconnect(loop.quit)
    if dashboard.predictor is None:  # let the after-run work (the Try it model) finish before the next round
        dashboard.resultsReady.connect(loop.quit)
        loop.exec()
        dashboard.resultsReady.disconnect(loop.quit)
    started = dashboard.bridge.run_started
    return throughput(ends, started.num_train), stalls


def headless_round(graph, epochs: int, run_root: Path) -> float:
    """The same run without a window: a worker thread writing the same run folder."""
    from runtime.training import TrainingConfig, TrainingSession
    from runtime.training.events import EpochEnd, RunStarted

    config = TrainingConfig.from_graph(graph).replace(epochs=epochs)
    session = TrainingSession(graph, config, run_root=run_root).start()
    ends, num_train = [], 0
    for event in session.events_until_done():
        if isinstance(event, RunStarted):
            num_train = event.num_train
        elif isinstance(event, EpochEnd):
            ends.append(event)
    session.join()
    return throughput(ends, num_train)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=40)
    args = parser.parse_args()
    app = QApplication.instance() or QApplication([])
    from nodeeditor.main_window import EditorWindow, private_settings

    with tempfile.TemporaryDirectory() as tmp:
        window = EditorWindow(private_settings(tmp))
        window.resize(1500, 950)
        window.show()
        window.open_example("digits_mlp")
        app.processEvents()
        headless_round(window.document.graph, 1, Path(tmp) / "runs")  # warm-up: imports, first compile
        gui, headless, stalls = [], [], []
        for _ in range(args.rounds):
            rate, round_stalls = gui_round(window, args.epochs)
            gui.append(rate)
            stalls += round_stalls
            headless.append(headless_round(window.document.graph, args.epochs, Path(tmp) / "runs"))
        window.document.undo_stack.setClean()
        window.close()
    ratio = statistics.median(g / h for g, h in zip(gui, headless))
    stalls.sort()
    p99 = stalls[int(len(stalls) * 0.99) - 1] if stalls else 0.0
    print(f"digits MLP, {args.epochs} epochs x {args.rounds} interleaved rounds, offscreen, "
          f"{os.cpu_count()} cores")
    print(f"  headless (worker thread)   {statistics.median(headless):>10,.0f} samples/s")
    print(f"  GUI (dashboard, charts)    {statistics.median(gui):>10,.0f} samples/s")
    print(f"  GUI / headless             {ratio:>10.2f}x   (target >= 0.85)")
    print(f"  event-loop stall  worst {stalls[-1] if stalls else 0:.0f} ms, p99 {p99:.0f} ms "
          f"over {len(stalls)} probes   (target worst < 50 ms)")


if __name__ == "__main__":
    main()
