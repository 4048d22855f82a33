"""Training from the editor window vs headless, in one process (offscreen).

Trains the digits MLP from the dashboard (live charts, progress, evaluation: the whole GUI path)
while a 5 ms probe timer measures how long the event loop goes without running (from the run's first
steps to its end), then trains the same graph headless on a worker thread writing the same run
folder, interleaved over several rounds. Prints the GUI/headless
throughput ratio (training samples per second of the training steps) and the worst and 99th
percentile event-loop stall. Targets: ratio >= 0.85, worst stall < 50 ms.

Second figure, F5 to the first step: with a warm training process ready (``window.schedule_warm()``,
torch imported), a real F5 key press in the window until the first ``Step`` reaches the window (the
bridge's first ``steps`` signal, handled by the charts) and until it is painted (the dashboard's next
redraw tick), against the same setup headless in this process (torch already imported, as in the warm
child): ``TrainingSession(graph, run_root=...)`` constructed and started until its first ``Step``. Same
graph, dataset and kind of run folder; rounds interleaved (window, headless, window, ...), the pool
refilled (and idle) before each round. Goal: window / headless <= 1.3x. A cold F5
(``LAYERLOOM_NO_WARM=1``: a fresh process spawned by F5) is timed for contrast, and ``--profile`` adds a
warm ``ProcessSession`` read without a window (the child's stages as they arrive through the queue,
no bridge timer) to split the window's time into the hand-over to the child, the child's stages, and
the bridge and redraw timers.

    python benchmarks/bench_gui_training.py [--rounds 3] [--epochs 40]
    python benchmarks/bench_gui_training.py --first-step-only [--first-step-rounds 5] [--cold-rounds 3]
        [--examples digits_mlp,digits_cnn] [--profile]
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

from PySide6.QtCore import QElapsedTimer, QEventLoop, Qt, QTimer  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

PROBE_MS = 5
FIRST_STEP_GOAL = 1.3          # F5 to the first step: window / headless
WARM_TIMEOUT_S = 180           # a warm child's imports on a busy 2-core machine
STAGES = ("importing", "loading_data", "compiling", "first_step", "run_started", "first_step_event")


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
    from layerloom.training import TrainingConfig, TrainingSession
    from layerloom.training.events import EpochEnd, RunStarted

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


# ---------------------------------------------------------------------- F5 to the first step
def wait_for(predicate, timeout_s: float, what: str) -> float:
    """Run the event loop (idle, as the app does) until ``predicate()``; the seconds it took."""
    started = time.perf_counter()
    if not predicate():
        loop, poll = QEventLoop(), QTimer()
        poll.setInterval(10)
        poll.timeout.connect(lambda: (predicate() or time.perf_counter() - started > timeout_s) and loop.quit())
        poll.start()
        loop.exec()
        poll.stop()
        if not predicate():
            raise SystemExit(f"timed out after {timeout_s:.0f} s waiting for {what}")
    return time.perf_counter() - started


def background_idle() -> bool:
    """No window job (the Try it model of the last run) is still working on its thread."""
    import threading

    return not any(t.name.startswith("layerloom-") and t.is_alive() for t in threading.enumerate())


def settle(window) -> None:
    """Before a timed round: the pool holds a ready (idle) child and the window's jobs are done, so
    nothing else competes for the CPU while the round is timed."""
    wait_for(lambda: window.warm_pool.ready_count > 0 and background_idle(), WARM_TIMEOUT_S,
             "a warm process (window.warm_pool.ready_count > 0)")
    QTest.qWait(200)


def f5_round(window, workspace: str = "design") -> tuple[dict[str, float], bool]:
    """Press F5 in ``workspace`` (Design: the window also switches to Train); seconds from the key press to each stage seen by the window:
    ``start_returned`` (dashboard.start() done), the Preparing stages, ``run_started``, ``first_step_event``
    (the bridge's first ``steps`` signal, after the charts took it) and ``painted`` (the run header's
    progress first shows a step, with the charts' redraw before it). The run is stopped once painted.
    Also says whether the run went to a warm child."""
    dashboard, header = window.dashboard, window.dashboard.header
    window.workspaces.switch(workspace)
    window.activateWindow()
    QApplication.processEvents()
    marks: dict[str, float] = {}
    loop = QEventLoop()
    fallback = QTimer(singleShot=True, interval=3000)   # the progress never showed: stop anyway
    fallback.timeout.connect(dashboard.stop)

    def mark(name: str) -> None:
        marks.setdefault(name, time.perf_counter())

    def show_progress(step, started) -> None:   # the header's own method, timed (instance attribute)
        type(header).show_progress(header, step, started)
        mark("painted")   # only called with a step to show
        if "first_step_event" in marks:
            dashboard.stop()

    def first_steps(_steps) -> None:   # after the dashboard's own slot (connected before this one)
        if "first_step_event" in marks:
            return   # more steps, before the stop takes effect
        mark("first_step_event")
        if "painted" in marks:   # the dashboard showed it at once, inside its slot
            marks["painted"] = marks["first_step_event"]
            dashboard.stop()
        else:
            fallback.start()

    def run_started() -> None:   # emitted at the end of dashboard.start(): the bridge exists
        mark("start_returned")
        bridge = dashboard.bridge
        bridge.preparing.connect(lambda event: mark(event.stage))
        bridge.started.connect(lambda _: mark("run_started"))
        bridge.steps.connect(first_steps)

    header.show_progress = show_progress
    dashboard.runStarted.connect(run_started)
    dashboard.runEnded.connect(loop.quit)
    try:
        pressed = time.perf_counter()
        QTest.keyClick(window, Qt.Key.Key_F5)
        dashboard.runStarted.disconnect(run_started)
        if not dashboard.running:
            raise SystemExit("F5 started no run (is the window active? is the graph valid?)")
        loop.exec()
    finally:
        fallback.stop()
        dashboard.runEnded.disconnect(loop.quit)
        del header.show_progress
    if "first_step_event" not in marks:
        raise SystemExit(f"the run ended before its first step: {dashboard.bridge.result}")
    return {name: at - pressed for name, at in marks.items()}, dashboard.session.warm_used


def headless_first_step(graph, run_root: Path) -> dict[str, float]:
    """The same run in this process (torch imported): seconds from constructing the session to each
    stage, ``first_step_event`` at the first Step; stopped there."""
    from layerloom.training import TrainingSession

    marks: dict[str, float] = {}
    begun = time.perf_counter()
    session = TrainingSession(graph, run_root=run_root).start()
    for event in session.events_until_done(poll=0.05):
        if mark_stage(marks, event, time.perf_counter()):
            session.stop()
    session.join()
    return {name: at - begun for name, at in marks.items()}


def mark_stage(marks: dict[str, float], event, now: float) -> bool:
    """Note when a set-up stage, the RunStarted and the first Step arrived; True at the first Step."""
    from layerloom.training.events import Preparing, RunStarted, Step

    if isinstance(event, Preparing):
        marks.setdefault(event.stage, now)
    elif isinstance(event, RunStarted):
        marks.setdefault("run_started", now)
    elif isinstance(event, Step) and "first_step_event" not in marks:
        marks["first_step_event"] = now
        return True
    return False


def process_first_step(graph, run_root: Path) -> tuple[dict[str, float], dict[str, float]]:
    """The window's way without a window: a warm child (ready) given the run by ``ProcessSession``, its
    events read as they arrive through the queue (no bridge timer). Seconds from ``start()`` to each
    stage, and the child's own warm-up times."""
    from layerloom.training.events import TERMINAL
    from layerloom.training.process import ProcessSession
    from layerloom.training.worker import WarmProcess

    child = WarmProcess(warm_export=True).start()
    if not child.wait_ready(WARM_TIMEOUT_S):
        raise SystemExit("the warm process did not get ready")
    time.sleep(0.2)
    marks: dict[str, float] = {}
    begun = time.perf_counter()
    session = ProcessSession(graph, run_root=run_root, warm=child).start()
    while True:
        event = session.events.get(timeout=0.5)
        if mark_stage(marks, event, time.perf_counter()):
            session.stop()
        elif isinstance(event, TERMINAL):
            break
    session.join(10)
    return {name: at - begun for name, at in marks.items()}, child.facts


def spread(values: list[float]) -> str:
    return (f"{min(values):6.3f} {statistics.median(values):7.3f} {max(values):7.3f} s"
            if values else "     -")


def stage_line(label: str, rounds: list[dict[str, float]]) -> str:
    cells = []
    for name in ("start_returned",) + STAGES + ("painted",):
        values = [r[name] for r in rounds if name in r]
        cells.append(f"{statistics.median(values):6.3f}" if values else "     -")
    return f"  {label:<27}" + " ".join(cells)


def first_step_figure(window, stem: str, rounds: int, cold_rounds: int, profile: bool, run_root: Path) -> None:
    from layerloom.training.worker import ENV_OFF

    if not window.open_example(stem):
        raise SystemExit(f"cannot open the example {stem}")
    graph = window.document.graph
    window.schedule_warm()
    settle(window)
    f5_round(window)                       # warm-up: the Train workspace's first layout, charts, imports
    headless_first_step(graph, run_root)   # warm-up: the dataset loader and compiler in this process
    load_before = os.getloadavg()
    gui_marks, headless_marks, cold_marks, child_marks, facts = [], [], [], [], {}
    train_marks = []   # F5 pressed in the Train workspace: no workspace switch
    for index in range(max(rounds, cold_rounds)):
        if index < rounds:
            settle(window)
            marks, warm_used = f5_round(window)
            if not warm_used:
                raise SystemExit("F5 did not use the warm process")
            gui_marks.append(marks)
            settle(window)
            headless_marks.append(headless_first_step(graph, run_root))
            settle(window)
            train_marks.append(f5_round(window, "train")[0])
        if index < cold_rounds:
            settle(window)
            os.environ[ENV_OFF] = "1"   # LAYERLOOM_NO_WARM: F5 spawns a fresh process
            try:
                marks, warm_used = f5_round(window)
            finally:
                del os.environ[ENV_OFF]
            cold_marks.append(marks)
        if profile and index < rounds:
            settle(window)
            marks, facts = process_first_step(graph, run_root)
            child_marks.append(marks)
    load_after = os.getloadavg()
    gui = [m["first_step_event"] for m in gui_marks]
    painted = [m["painted"] for m in gui_marks if "painted" in m]
    headless = [m["first_step_event"] for m in headless_marks]
    cold = [m["first_step_event"] for m in cold_marks]
    child_runs = [m["first_step_event"] for m in child_marks]
    ratio = statistics.median(g / h for g, h in zip(gui, headless))
    ratio_painted = statistics.median(p / h for p, h in zip(painted, headless)) if painted else float("nan")
    print(f"\nF5 to the first step: {stem}, {rounds} interleaved rounds, offscreen, {os.cpu_count()} cores, "
          f"load {load_before[0]:.2f} before / {load_after[0]:.2f} after (1-min average)")
    print(f"  {'':<27}{'min':>6} {'median':>7} {'max':>7}")
    print(f"  {'headless (TrainingSession)':<27}{spread(headless)}")
    print(f"  {'window, warm: first Step':<27}{spread(gui)}")
    print(f"  {'window, warm: painted':<27}{spread(painted)}")
    print(f"  window / headless            {ratio:.2f}x first Step, {ratio_painted:.2f}x painted   "
          f"(goal <= {FIRST_STEP_GOAL}x)  {'met' if ratio <= FIRST_STEP_GOAL else 'MISSED'}   (F5 in Design)")
    in_train = [m["painted"] for m in train_marks if "painted" in m]
    if in_train:
        ratio_train = statistics.median(p / h for p, h in zip(in_train, headless))
        print(f"  {'window, warm, F5 in Train':<27}{spread(in_train)}")
        print(f"  window / headless            {ratio_train:.2f}x painted   (goal <= {FIRST_STEP_GOAL}x)  "
              f"{'met' if ratio_train <= FIRST_STEP_GOAL else 'MISSED'}   (F5 in Train: no workspace switch)")
    if cold:
        print(f"  {'window, cold (NO_WARM)':<27}{spread(cold)}   ({len(cold)} rounds, "
              f"{statistics.median(cold) / statistics.median(headless):.1f}x headless)")
    if child_runs:
        print(f"  {'warm ProcessSession, no Qt':<27}{spread(child_runs)}")
        child, alone = statistics.median(child_runs), statistics.median(headless)
        print(f"  where the time goes (medians): the run in a child (hand-over, its first-run costs) "
              f"{1000 * (child - alone):+.0f} ms over headless;\n    the window (F5's own work, bridge ticks, "
              f"handlers) {1000 * (statistics.median(gui) - child):+.0f} ms more to the first Step, "
              f"{1000 * (statistics.median(painted) - child):+.0f} ms to the paint")
    print("  stages, median seconds from F5 / start:")
    print(f"  {'':<27}" + " ".join(f"{n[:6]:>6}" for n in ("start",) + STAGES + ("paint",)))
    print(stage_line("headless", headless_marks))
    if child_marks:
        print(stage_line("warm ProcessSession", child_marks))
    print(stage_line("window, warm", gui_marks))
    if train_marks:
        print(stage_line("window, warm, in Train", train_marks))
    if cold_marks:
        print(stage_line("window, cold", cold_marks))
    if facts:
        print("  warm child's own warm-up: " + ", ".join(f"{k} {v:.2f} s" for k, v in facts.items()
                                                        if isinstance(v, float)))
    window.document.undo_stack.setClean()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--first-step-only", action="store_true", help="only the F5-to-first-step figure")
    parser.add_argument("--first-step-rounds", type=int, default=5)
    parser.add_argument("--cold-rounds", type=int, default=3, help="cold F5 rounds for contrast (0: none)")
    parser.add_argument("--examples", default="digits_mlp,digits_cnn", help="examples for the F5 figure")
    parser.add_argument("--profile", action="store_true",
                        help="also time a warm ProcessSession without a window (where the time goes)")
    args = parser.parse_args()
    app = QApplication.instance() or QApplication([])
    from layerloom.nodeeditor.window.main_window import EditorWindow, private_settings

    with tempfile.TemporaryDirectory() as tmp:
        window = EditorWindow(private_settings(tmp))
        window.resize(1500, 950)
        window.show()
        if not args.first_step_only:
            throughput_figure(app, window, args, Path(tmp) / "runs")
        for stem in filter(None, args.examples.split(",")):
            first_step_figure(window, stem.strip(), args.first_step_rounds, args.cold_rounds, args.profile,
                              Path(tmp) / "runs")
        window.document.undo_stack.setClean()
        window.close()


def throughput_figure(app, window, args, run_root: Path) -> None:
    window.open_example("digits_mlp")
    app.processEvents()
    headless_round(window.document.graph, 1, run_root)  # warm-up: imports, first compile
    gui, headless, stalls = [], [], []
    for _ in range(args.rounds):
        rate, round_stalls = gui_round(window, args.epochs)
        gui.append(rate)
        stalls += round_stalls
        headless.append(headless_round(window.document.graph, args.epochs, run_root))
    window.document.undo_stack.setClean()
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
