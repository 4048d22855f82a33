"""A run's life in the window, from F5 to its end.

Starting (a snapshot of the graph in a child process, refused with the reason where the graph cannot
train; a built-in dataset that is not on disk is downloaded first when the user agrees), pausing, resuming and stopping, and closing the window during a run; the run's events on the
GUI thread (preparing, started, steps, epochs, paused, the end), buffered and painted at a bounded
rate; its outcome and failures said where the user is looking (status bar, banner, Problems list,
the node's badge); the warm training processes that spare F5 the imports.

``RunLifecycle`` is a part of ``Dashboard`` (``controller``): it sets ``live`` and works through the
dashboard's widgets and its ``ShownRun`` part (``_show_live``, ``_show_outcome``...).
"""

from __future__ import annotations

import dataclasses

from PySide6.QtWidgets import QMessageBox

from layerloom.edits.loss import NO_LOSS
from layerloom.training.events import Failed, Finished, Stopped

from layerloom.nodeeditor.adapters.run_bridge import RunBridge
from layerloom.nodeeditor.dashboard.run_header import PAUSED, RUNNING, STARTING, STOPPING
from layerloom.nodeeditor.dashboard.run_texts import (ADD_LOSS, device_text, failure_text, first_line, outcome_text,
                                                     plain, run_problem, state_of)
from layerloom.nodeeditor.dashboard.shown_run import UNTITLED
from layerloom.nodeeditor.dashboard.train_view import LiveRun, runs_root

# Events are buffered as they arrive and painted at a fixed, modest rate: a pyqtgraph chart takes
# 15-25 ms to paint here, so the event loop never waits long (benchmarks/bench_gui_training.py).
REDRAW_MS = 250
BRIDGE_MS = 50
STOP_TIMEOUT_S = 2.0


class RunLifecycle:
    """Start, pause, resume and stop the run, and follow its events (a part of ``Dashboard``)."""

    # ------------------------------------------------------------------ start, pause, stop
    def start(self) -> bool:
        """Train the current graph (a snapshot of it) with its training settings."""
        window, document = self.window, self.window.document
        if self.running:
            if not self.live.belongs_to(document):
                window.statusBar().showMessage(f"“{self.live.graph_name}” is still training: stop it first "
                                               "(Shift+F5)", 6000)
            return False
        # a value typed but not yet entered is what the user sees: it is what the run must use, or,
        # refused, the run does not start on the value the field gave up
        for form in (self.panel, window.inspector):
            key = form.commit_pending()
            if key and form.fields.refused(key):
                text = form.fields.problem(key)
                self.header.show_banner(f"Cannot train: {text}.", "error")
                self._set_status(f"✖ Cannot train: {text}", error=True)
                self._refusal_shown = True
                self._say_blocked()
                return False
        if document.bridge.run_problems:
            document.bridge.set_run_problems([])   # the last run's verdict: this run will say anew
        errors = document.bridge.current().errors
        if errors:
            self._refuse(errors)
            return False
        if not self._dataset_on_disk(document):
            return False
        from layerloom.training.process import ProcessSession

        base_dir = document.path.parent if document.path else None
        root = runs_root(document, window.settings.value("runs_dir"))
        # a child process, not a thread: the window's painting never competes with the training loop
        # for the interpreter lock (runtime/training/process.py has the measurements)
        session = ProcessSession(document.graph, run_root=root, base_dir=base_dir,
                                 source=str(document.path) if document.path else None, warm=self._take_warm())
        return self._launch(document, session, document.graph.name or UNTITLED)

    def continue_run(self, run_dir, epochs: int = 0) -> bool:
        """Continue a run from its last checkpoint, in its own folder, with its own graph and settings
        (the Runs list's Continue Training): to its planned epochs (``epochs`` 0: one that ended early),
        or to ``epochs`` in all (a finished run trained more). Its events show like any run's; it belongs
        to the current graph's views."""
        from layerloom.training.process import ProcessSession
        from layerloom.training.records import read_run
        from layerloom.training.runs import checkpoint_config, checkpoint_graph, load_checkpoint

        window, document = self.window, self.window.document
        if self.running:
            window.statusBar().showMessage(f"“{self.live.graph_name}” is still training: stop it first "
                                           "(Shift+F5)", 6000)
            return False
        info = read_run(run_dir)
        reason = info.cannot_continue()
        if reason:
            window.statusBar().showMessage(f"Cannot continue {info.name}: {reason}", 8000)
            return False
        try:
            state = load_checkpoint(info.path)
            graph = checkpoint_graph(state)
            config = checkpoint_config(state)
            config = config.replace(epochs=epochs or info.epochs or config.epochs)
        except Exception as exc:  # noqa: BLE001 - a damaged checkpoint: said, nothing started
            window.statusBar().showMessage(f"Cannot continue {info.name}: {exc}", 8000)
            return False
        session = ProcessSession(graph, config, warm=self._take_warm(), resume=info.path)
        return self._launch(document, session, graph.name or UNTITLED)

    def _launch(self, document, session, name: str) -> bool:
        """Start ``session`` for ``document`` and follow its events."""
        window = self.window
        bridge = RunBridge(session, interval_ms=BRIDGE_MS, parent=self)
        self.live = live = LiveRun(document, document.path, name, session, bridge)
        bridge.preparing.connect(lambda event: self._preparing(live, event))
        bridge.started.connect(lambda event: self._started(live, event))
        bridge.steps.connect(lambda steps: self._steps(live, steps))
        bridge.epochEnded.connect(lambda end: self._epoch(live, end))
        bridge.noted.connect(lambda note: self._noted(live, note))
        bridge.paused.connect(lambda _: self._set_live_state(live, PAUSED))
        bridge.resumed.connect(lambda _: self._set_live_state(live, RUNNING))
        bridge.finished.connect(lambda result: self._finished(live, result))
        bridge.start()   # first: the run prepares in its process while this window updates itself
        self.checkpoint = None
        self._errors_refused = False
        self.panel.fields.forget_refusals()
        if self.switch_action.isChecked():
            from layerloom.nodeeditor.panels.workspaces import TRAIN

            window.workspaces.switch(TRAIN)
        self._show_live()
        self._set_status(f"● Training {live.graph_name}: starting")
        self.redraw_timer.start()
        self.runStarted.emit()
        return True

    def _dataset_on_disk(self, document) -> bool:
        """True when the run's dataset needs no download. Otherwise the user is asked (``dataset_gate``);
        once it is on disk the run starts, if this document is still the one shown and nothing trains."""
        training = document.graph.training if isinstance(document.graph.training, dict) else {}
        settings = training.get("dataset")

        def downloaded() -> None:
            if self.window.document is document and not self.running:
                self.start()

        def declined(text: str) -> None:
            self._set_status(f"✖ Not trained: {text}", error=True)

        return self.dataset_gate().ensure(settings, downloaded, declined)

    def _refuse(self, errors) -> None:
        """The graph has problems: say so where the user is (status bar, Problems list, the banner),
        without starting anything."""
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        text = f"Cannot train: {first.describe()}{more}"
        self.header.show_banner(text + ". Fix it to train (the Problems list of the Design workspace has "
                                "them all).", "error", node_id=first.node_id)
        self._set_status("✖ " + text, error=True)
        self._errors_refused = True
        self._say_blocked()
        self.window.show_problems()

    def pause(self) -> None:
        if self.running:
            self.bridge.pause()

    def resume(self) -> None:
        if self.running:
            self.bridge.resume()

    def toggle_pause(self) -> None:
        if self.running:
            (self.resume if self.session.paused else self.pause)()

    def stop(self) -> None:
        live = self.live
        if live is not None and live.active:
            live.state = STOPPING
            if self.shown is live:
                self.header.set_state(STOPPING)
                self.header.show_message("Stopping at the next step…")
            self._set_status(f"● Stopping {live.graph_name}…")
            live.bridge.stop()

    def stop_and_wait(self, timeout: float = STOP_TIMEOUT_S) -> bool:
        """Stop the run and wait for its process (closing the window). True when it ended in time."""
        if not self.running:
            return True
        return self.bridge.stop_and_wait(timeout)

    def close(self) -> None:
        """The window is closing: results still being read or built are dropped when they arrive."""
        self._token = object()
        self.redraw_timer.stop()

    def confirm_close(self) -> bool:
        """Closing the window during a run asks first, then stops the run cleanly."""
        if not self.running:
            return True
        answer = QMessageBox.question(
            self.window, "Training in progress",
            f"“{self.live.graph_name}” is training. Stop it and close? (The run folder keeps what it has so far.)",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
        if answer != QMessageBox.StandardButton.Yes:
            return False
        self.stop_and_wait()
        return True

    # ------------------------------------------------------------------ events (GUI thread)
    def _preparing(self, live: LiveRun, event) -> None:
        live.stage = event.text
        if self.shown is live and live.started is None:
            self.header.show_stage(event.text)
        self._set_status(f"● Training {live.graph_name}: {event.text[:1].lower()}{event.text[1:]}")

    def _started(self, live: LiveRun, started) -> None:
        live.started = started
        if started.start_epoch and started.run_dir:   # a continued run: its curves so far, then the new steps
            from layerloom.training.records import RunCurves

            try:
                live.previous = RunCurves.from_run_dir(started.run_dir)   # cut back to its checkpoint by now
            except Exception:  # noqa: BLE001 - the history is a courtesy: the run's own steps still show
                live.previous = None
        live.state = RUNNING if live.state == STARTING else live.state
        if started.run_dir and live.document is not None:
            made = getattr(live.document, "run_dirs", None)
            if made is not None:
                made.append(started.run_dir)
            self.runs_panel.add_live(started.run_dir)
        self._sync_actions()   # Pause works from now on
        if self.shown is not live:
            return
        self.header.set_device(*device_text(started))   # on the CPU: its threads and why
        if live.previous is not None:
            self.charts.reset(started, previous=live.previous)
        else:
            self.charts.begin(started)
        self.view.show_charts()
        self.header.set_state(live.state)
        self._show_identity()
        self.header.show_message(f"{started.dataset} · {started.parameters:,} parameters")
        if started.notes:   # fallbacks and warnings (a compile that could not be, a batch bigger than the data):
            # on the banner, which stays while the progress line below it changes every step
            self.header.show_banner("Notes on this run: " + "; ".join(plain(n) for n in started.notes), "info")

    def _noted(self, live: LiveRun, note) -> None:
        """The run changed how it trains: fewer threads (the header's device says the new count) or a
        compiled network that fell back (a notice on the banner, which stays until dismissed)."""
        live.notes.append(note.text)
        if note.threads and live.started is not None:
            live.started = dataclasses.replace(live.started, threads=note.threads,
                                               threads_reason=note.threads_reason)
        if self.shown is live:
            if note.threads and live.started is not None:
                self.header.set_device(*device_text(live.started))
            else:
                self.header.show_banner(f"Epoch {note.epoch}, step {note.step:,}: {note.text}", "info")
        self._set_status(f"● {live.graph_name}: {note.text}")

    def _steps(self, live: LiveRun, steps) -> None:
        first = not live.steps
        live.steps.extend(steps)
        if self.shown is live:
            for step in steps:
                self.charts.add_step(step)
            self._dirty = True   # painted by the redraw timer
            if first:   # the first step is shown at once, on every chart: the run is going
                self.charts.redraw()
                self._dirty = False
                self._redraw()

    def _epoch(self, live: LiveRun, end) -> None:
        if live.epochs and live.epochs[-1].details:
            # only the newest epoch's details (a confusion matrix) are needed: keep memory flat
            previous = live.epochs[-1]
            live.epochs[-1] = type(previous)(**{**previous.__dict__, "details": {}})
        live.epochs.append(end)
        if self.shown is live:
            self.charts.add_epoch(end)
            self._dirty = True
            # shown on the redraw tick that moves the header's progress: the evaluation never names an
            # epoch the header has not reached (epochs of 50 ms outran the header by 3)
            self._epoch_due = end

    def _set_live_state(self, live: LiveRun, state: str) -> None:
        if not live.active:
            return
        live.state = state
        where = self._live_where()
        if state == PAUSED:
            self._set_status(f"Paused: {live.graph_name} at {where}")
        else:
            self._set_status(f"● Training {live.graph_name}: {where}")
        if self.shown is not live and self.header.banner_kind() == "info":
            self._show_background_run()   # "… is paused in this window", then "still training" again
        if self.shown is live:
            if state == PAUSED and live.steps:   # the steps flushed before the pause: the bar ends there
                self._shown_step = live.steps[-1]
                self.header.show_progress(live.steps[-1], live.started)
            self.header.set_state(state)
            if state == PAUSED:
                self.header.show_message(f"Paused at {where}. Resume (F6) to go on, or Stop (Shift+F5).")
        self._sync_actions()

    def _redraw(self) -> None:
        """The timer's paint: charts and progress, only when something new arrived."""
        live = self.live
        if live is None:
            return
        if self.shown is live and self._dirty:
            # one chart per tick (each paint costs 15-25 ms): the rest follow on the next ticks
            self.charts.redraw(limit=1)
            self._dirty = self.charts.pending
        if live.steps and live.active and live.state == RUNNING and live.steps[-1] is not self._shown_step:
            self._shown_step = last = live.steps[-1]
            if self.shown is live:
                self.header.show_progress(last, live.started)
            elif self.header.banner_kind() == "info":
                self._show_background_run()   # "still training (epoch 304/2000)" keeps counting
            self._set_status(f"● Training {live.graph_name}: {self._live_where()}")
        self._show_due_epoch()

    def _show_due_epoch(self) -> None:
        end, self._epoch_due = self._epoch_due, None
        if end is not None and self.shown is self.live:
            self._show_epoch_details(end)

    def _finished(self, live: LiveRun, result) -> None:
        live.result = result
        live.state = state_of(result)
        self.redraw_timer.stop()
        self.runs_panel.end_live(result)
        if self.shown is live and isinstance(result, Failed) and live.started is None:
            self._show_latest()   # it never began: the views keep what the graph had before
            self._report_failure(live, result)
        elif self.shown is live:
            self.charts.redraw(force=True)
            self._dirty = False
            self._show_due_epoch()
            self._show_outcome(result)
            if isinstance(result, Failed):
                self._report_failure(live, result)
            else:
                self.checkpoint = None   # the new run's weights take over
                self._want_predictor()
        elif isinstance(result, Failed):
            self._report_failure(live, result)
        self._set_status(self._outcome_status(live, result), error=isinstance(result, Failed))
        if not live.belongs_to(self.document) and self.shown is not live:
            if self.header.banner_kind() == "info":
                self.header.hide_banner()   # the notice about it is moot now
            self._show_shown_message()      # and "Train is available when … ends" too
        self._sync_actions()
        self.refill_warm()
        self.runEnded.emit(result)

    # ------------------------------------------------------------------ saying how it ended
    def _outcome_status(self, live: LiveRun, result) -> str:
        name = live.graph_name
        if isinstance(result, Finished) and result.warnings:
            return f"⚠ {name}: finished, but it did not learn (see the Train workspace)"
        if isinstance(result, Finished):
            return f"✔ {name}: {outcome_text(result).splitlines()[0]}"
        if isinstance(result, Stopped):
            return f"■ {name}: {result.message or 'stopped'}"
        if result.kind == "setup":
            return f"✖ {name} could not start: {plain(first_line(result.message.removeprefix('cannot train:')))}"
        return f"✖ {name}: training failed: {plain(first_line(result.message))}"

    def _report_failure(self, live: LiveRun, result: Failed) -> None:
        """A run that could not start or stopped with an error, said where the user is looking: the
        banner, the status bar, the Problems list and the node's badge."""
        problems = list(result.problems)
        node = next((p.node_id for p in problems if p.node_id), None)
        if live.belongs_to(self.document):
            self.document.bridge.set_run_problems(problems or [run_problem(result)])
            fix = (ADD_LOSS, "Add a Loss") if any(p.code == NO_LOSS for p in problems) else None
            self.header.show_banner(failure_text(live.graph_name, result), "error", node_id=node, action=fix)
            self._say_blocked()
            self.window.show_problems()
        else:
            self.window.statusBar().showMessage(f"“{live.graph_name}” (no longer open) failed: "
                                                f"{first_line(result.message)}", 15000)

    # ------------------------------------------------------------------ warm processes
    def _take_warm(self):
        """A training process already started (torch imported), or None to start one now."""
        return self.window.warm_pool.take()

    def refill_warm(self) -> None:
        """Start the next warm process once the window is idle again."""
        self.window.warm_later()
