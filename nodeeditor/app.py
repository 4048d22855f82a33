"""The ``layerloom`` entry point: the node editor, on a file or (first start) the digits MLP example.

``layerloom --self-test`` proves an installation (a venv or a bundled app) end to end, headless:
the window, every example, the example plugins, a training run and an export in child processes."""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Sequence


def has_display() -> bool:
    if os.environ.get("QT_QPA_PLATFORM") or not sys.platform.startswith("linux"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def configure_environment(offscreen: bool = False) -> None:
    """Process-wide settings. Torch is not imported here: drawing and checking graphs does not need
    it, and a training run's worker thread sets its own torch thread count (layerloom.training)."""
    if offscreen and not os.environ.get("QT_QPA_PLATFORM"):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"


def place_first_window(window, available) -> None:
    """The first start's window: 1400x900 where the screen allows, else most of it, centred."""
    if available is None or available.isEmpty():
        window.resize(1400, 820)
        return
    width = min(1400, int(available.width() * 0.94))
    height = min(900, int(available.height() * 0.92))
    window.resize(width, height)
    frame = window.frameGeometry()
    frame.moveCenter(available.center())
    window.move(frame.topLeft())


def main(argv: Sequence[str] | None = None) -> int:
    multiprocessing.freeze_support()  # training runs in a child process; a bundled app must allow it
    started = time.perf_counter()
    parser = argparse.ArgumentParser(prog="layerloom", description="LayerLoom: design, train and export networks.")
    parser.add_argument("file", nargs="?", help="a graph file to open (default: the digits MLP example)")
    parser.add_argument("--screenshot", metavar="PNG",
                        help="render the window to PNG and exit (status 1, the reason on stderr, when the file "
                             "could not be opened)")
    parser.add_argument("--self-test", action="store_true",
                        help="check this installation headless (window, examples, training and ONNX export "
                             "in child processes), print a report and exit: 0 when it passed")
    args = parser.parse_args(argv)
    if args.self_test:
        configure_environment(offscreen=not has_display())
        return self_test(started)
    if not args.screenshot and not has_display():
        print("layerloom: no display found (DISPLAY and WAYLAND_DISPLAY are unset). Run it in a desktop "
              "session, under `xvfb-run`, or use --screenshot PNG to render offscreen.", file=sys.stderr)
        return 1
    configure_environment(offscreen=bool(args.screenshot) and not has_display())

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from layerloom.nodeeditor.window.main_window import EditorWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("LayerLoom")
    app.setOrganizationName("LayerLoom")
    window = EditorWindow()
    if args.file:
        opened = window.open_path(Path(args.file))
    else:
        opened = window.open_example("digits_mlp")
    if args.screenshot:
        # no dialog may wait for a click here: what could not be opened is said on stderr (the
        # window, drawn with an empty graph, says it in its status bar too), and the status is 1
        for _title, message in window.take_pending_warnings():
            print(f"layerloom: error: {message}", file=sys.stderr)
    if not window.restoreGeometry(window.settings.value("window/geometry") or b""):
        place_first_window(window, app.primaryScreen().availableGeometry() if app.primaryScreen() else None)
    window.show()
    window.view.show_graph()
    if not args.screenshot:
        if not window.offer_recovery() and not args.file:
            window.show_welcome_at_start()   # until "Show at start-up" is unticked
        window.report_plugin_problems()
        QTimer.singleShot(1500, window.dashboard.probe_device)  # names the device; warms torch up
        window.schedule_warm()   # a training process with torch imported, ready for F5 and Export
    if args.screenshot:
        for _ in range(3):
            app.processEvents()
        window.grab().save(args.screenshot)
        return 0 if opened else 1
    return app.exec()


# ---------------------------------------------------------------------- --self-test
class SelfTestFailed(Exception):
    def __init__(self, step: str, message: str):
        super().__init__(f"{step}: {message}")
        self.step = step


class SelfTest:
    """Named, timed steps printed as they end; the first that raises ends the test with its message.
    A step returns a line of detail, or ``(detail, facts)``: ``facts`` join the JSON report and
    ``self.facts``, where later steps find what earlier ones made."""

    def __init__(self, started: float | None = None, out=None, clock: Callable[[], float] = time.perf_counter):
        self.clock = clock
        self.started = clock() if started is None else started
        self.out = out or sys.stdout
        self.steps: list[dict[str, Any]] = []
        self.facts: dict[str, Any] = {}

    def step(self, name: str, fn: Callable[[], Any]) -> None:
        begin = self.clock()
        try:
            detail = fn()
        except Exception as exc:  # noqa: BLE001 - every failure is reported, with its step
            raise SelfTestFailed(name, f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}") from exc
        if isinstance(detail, tuple):
            detail, facts = detail
            self.facts.update(facts)
        seconds = self.clock() - begin
        self.steps.append({"step": name, "seconds": round(seconds, 3), "detail": detail or ""})
        self.say(f"{name:<34} {seconds:7.2f} s  {detail or ''}")

    def say(self, line: str) -> None:
        print(f"self-test: {line}", file=self.out, flush=True)

    def report(self, failure: SelfTestFailed | None = None) -> dict[str, Any]:
        """JSON-able: the verdict, the total and each step's time, and the facts worth keeping."""
        facts = {k: v for k, v in self.facts.items() if not k.startswith("_")}
        report = {"ok": failure is None, "total_s": round(self.clock() - self.started, 3), "steps": self.steps,
                  **facts}
        if failure is not None:
            report["failed_step"], report["error"] = failure.step, str(failure).splitlines()[0]
        return report

    def finish(self, failure: SelfTestFailed | None = None) -> int:
        """Print the verdict and the JSON report (the last line of stdout); the exit status."""
        report = self.report(failure)
        if failure is None:
            self.say(f"PASSED in {report['total_s']:.1f} s")
        else:
            print(f"layerloom --self-test: FAILED at {failure}", file=sys.stderr, flush=True)
            self.say(f"FAILED at step {failure.step!r}")
        print("self-test report: " + json.dumps(report), file=self.out, flush=True)
        return 0 if failure is None else 1


def self_test(started: float | None = None) -> int:
    test = SelfTest(started)
    test.say(f"LayerLoom on Python {sys.version.split()[0]}, {sys.platform}"
             + (", frozen (bundled app)" if getattr(sys, "frozen", False) else "")
             + f", Qt platform {os.environ.get('QT_QPA_PLATFORM') or 'default'}")
    with tempfile.TemporaryDirectory(prefix="layerloom-self-test-", ignore_cleanup_errors=True) as folder:
        try:
            _self_test_steps(test, Path(folder))
        except SelfTestFailed as failure:
            return test.finish(failure)
    return test.finish()


def _self_test_steps(test: SelfTest, folder: Path) -> None:
    from layerloom.files.resources import example_paths, resource_root

    # the example plugins that ship with LayerLoom, never the user's own
    os.environ["LAYERLOOM_PLUGIN_PATH"] = str(resource_root() / "plugins")
    os.environ.pop("LAYERLOOM_NO_PLUGINS", None)
    test.step("window shown", lambda: _show_window(test.started, folder))
    window = test.facts["_window"]
    for path in example_paths():
        stem = path.name.split(".")[0]
        test.step(f"open + compile {stem}", lambda stem=stem: _open_and_compile(window, stem))
    test.step("example plugins load", _check_plugins)
    test.step("a hanging or exiting plugin is stopped", lambda: _check_plugin_guard(folder))
    test.step("train digits_mlp 1 epoch (child)", lambda: _train(folder))
    test.step("export + verify (child)", lambda: _export(test.facts["_run_dir"], folder))
    test.step("close window", lambda: _close(window))


def _show_window(started: float, folder: Path):
    from PySide6.QtWidgets import QApplication

    from layerloom.nodeeditor.window.main_window import EditorWindow, private_settings

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("LayerLoom")
    app.setOrganizationName("LayerLoom")
    window = EditorWindow(private_settings(folder))
    window.open_example("digits_mlp")
    place_first_window(window, None)
    window.show()
    window.view.show_graph()
    app.processEvents()
    if not window.isVisible():
        raise RuntimeError("the window did not show")
    shown = time.perf_counter() - started
    return f"{shown:.2f} s after start", {"window_shown_s": round(shown, 3), "_window": window}


def _open_and_compile(window, stem: str) -> str:
    from PySide6.QtWidgets import QApplication

    from layerloom import compile_graph

    if not window.open_example(stem):
        raise RuntimeError(f"the example {stem!r} did not open")
    QApplication.processEvents()
    graph = window.document.graph
    compiled = compile_graph(graph, seed=0)
    params = sum(p.numel() for p in compiled.model.parameters())
    return f"{len(graph.nodes)} nodes, {params:,} parameters"


def _check_plugins() -> str:
    from layerloom.catalog.plugins import last_report
    from layerloom.catalog.spec import default_catalog

    default_catalog()
    report = last_report()
    if report is None:
        raise RuntimeError("the plugins were not loaded")
    if report.problems:
        raise RuntimeError("; ".join(p.describe() for p in report.problems))
    types = sorted(t for ids in report.loaded.values() for t in ids)
    if not types:
        raise RuntimeError("no example plugin loaded")
    return f"{len(report.loaded)} plugins: {', '.join(types)}"


def _check_plugin_guard(folder: Path, limit: str = "0.5") -> str:
    """A plugin that loops at import and one that calls sys.exit() are skipped and reported, in this
    very build (a bundled app too): the time limit's timer and the exit guard work here."""
    from layerloom.catalog.plugin_guard import ENV
    from layerloom.catalog.plugins import load_plugins
    from layerloom.catalog.spec import Catalog

    plugins = folder / "hostile-plugins"
    plugins.mkdir(exist_ok=True)
    (plugins / "loops.py").write_text("while True:\n    pass\n")
    (plugins / "exits.py").write_text("import sys\nsys.exit(3)\n")
    before = os.environ.get(ENV)
    os.environ[ENV] = limit
    try:
        report = load_plugins(Catalog(), [plugins], entry_points=False)
    finally:
        if before is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = before
    said = {p.plugin: p.message for p in report.problems}
    if "did not finish loading" not in said.get("loops", "") or "sys.exit(3)" not in said.get("exits", ""):
        raise RuntimeError(f"the plugin guard did not report them: {said}")
    return f"a looping plugin stopped after {limit} s, sys.exit(3) reported"


def _train(folder: Path, limit: float = 300.0):
    from layerloom import load_graph
    from layerloom.files.resources import example_path
    from layerloom.training import TrainingConfig
    from layerloom.training.events import EpochEnd, Finished
    from layerloom.training.process import ProcessSession

    graph = load_graph(example_path("digits_mlp"))
    config = TrainingConfig.from_graph(graph).replace(epochs=1)
    session = ProcessSession(graph, config, run_root=folder / "runs").start()
    deadline, metrics = time.monotonic() + limit, {}
    while session.result is None and time.monotonic() < deadline:
        event = session.events.get(timeout=0.5)
        if isinstance(event, EpochEnd):
            metrics = event.metrics
    if session.result is None:
        session.kill()
        raise RuntimeError(f"the training process did not finish within {limit:.0f} s")
    session.join(10)
    result = session.result
    if not isinstance(result, Finished):
        trace = getattr(result, "traceback", "")
        raise RuntimeError(f"{type(result).__name__}: {getattr(result, 'message', '')}\n{trace}".rstrip())
    accuracy = metrics.get("val_accuracy")
    detail = f"val_accuracy {accuracy:.3f}" if accuracy is not None else "finished"
    return detail, {"_run_dir": result.run_dir, "train_val_accuracy": accuracy}


def _export(run_dir: str, folder: Path, limit: float = 300.0) -> tuple[str, dict]:
    from PySide6.QtCore import QEventLoop, QTimer

    from layerloom import load_graph
    from layerloom.export.jobs import ExportRequest, child_main, request_payload
    from layerloom.files.resources import example_path

    from layerloom.nodeeditor.adapters.background import run_in_process

    # every kind of export, so each library it needs is proved present (onnxruntime's quantizer,
    # the torchrun template read from its own file, the generated source run again)
    request = ExportRequest(graph=load_graph(example_path("digits_mlp")), checkpoint=Path(run_dir), base_dir=None,
                            folder=folder / "export", stem="digits_mlp", quantize="static", python=True, ddp=True)
    loop, answer = QEventLoop(), {}

    def settle(key: str, value: Any) -> None:
        answer[key] = value
        loop.quit()

    run_in_process(child_main, request_payload(request), lambda result: settle("result", result),
                   lambda exc: settle("error", exc), name="export")
    QTimer.singleShot(int(limit * 1000), loop.quit)
    loop.exec()
    if "error" in answer:
        error = answer["error"]
        raise RuntimeError(f"{error}\n{getattr(error, 'traceback_text', '')}".rstrip())
    if "result" not in answer:
        raise RuntimeError(f"the export process did not finish within {limit:.0f} s")
    result = answer["result"]
    if not result.ok:
        raise RuntimeError(result.describe())
    diff = result.outcome("onnx").report.max_abs_diff
    source_diff = result.outcome("python").report
    int8 = result.outcome("int8").report
    return (f"max |onnxruntime - torch| {diff:.1e}, source {source_diff:.1e}, int8 {int8.bytes_after / 1024:.0f} KiB, "
            "torchrun folder", {"onnx_max_abs_diff": diff, "python_source_max_abs_diff": source_diff})


def _close(window) -> str:
    from PySide6.QtWidgets import QApplication

    window.close()
    QApplication.processEvents()
    return ""


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
