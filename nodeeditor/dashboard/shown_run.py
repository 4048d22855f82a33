"""What the Train workspace's views show, and say they show.

Exactly one of: the **live run** (rebuilt from its events so far), a **finished run read from its
folder** (its curves, last evaluation and outcome), or **nothing** (a graph without a run). Here too:
the identity line every view carries (which run of which graph, and whether the graph has changed
since: followed as the graph is edited), the notice of another graph's run still training (or paused)
in this window, moving on when the shown run's folder is deleted, the live epoch's evaluation and the
header once a run has ended.

``ShownRun`` is a part of ``Dashboard`` (``controller``): it reads the dashboard's widgets (``header``,
``charts``, ``view``, ``evaluation``, ``tryit``, ``runs_panel``) and its state (``document``, ``live``,
``shown``, ``checkpoint``); ``_change_shown`` is the one place ``shown`` changes.
"""

from __future__ import annotations

from pathlib import Path

from layerloom.files.graphfile import load_graph, same_network
from layerloom.training.events import Failed, Finished
from layerloom.training.records import evaluation_details, latest_run, read_run, read_started
from layerloom.training.tasks import expected_task

from layerloom.nodeeditor.adapters.background import run_in_background
from layerloom.nodeeditor.dashboard.run_header import IDLE, PAUSED, STOPPING
from layerloom.nodeeditor.dashboard.run_texts import (device_text, failure_text, folder_text, header_state,
                                                      learning_warning, outcome_text, pill_word, run_note, state_of)
from layerloom.nodeeditor.dashboard.train_view import LiveRun, runs_root

UNTITLED = "untitled"                         # a new graph's name
READY = "Ready to train. The settings are in the Training tab on the right."
BLOCKED = "Not ready: fix what the banner names, then press Train (F5)."


class ShownRun:
    """Which run the results views show, and showing it (a part of ``Dashboard``)."""

    # ------------------------------------------------------------------ the document's runs
    def _show_latest(self) -> None:
        """The document's latest run read from its folder, or nothing."""
        latest = self._latest_run(self.document)
        if latest is not None:
            self.show_run_folder(latest.path)
        else:
            self._show_nothing()

    def _latest_run(self, document):
        made = [Path(p) for p in self._runs_made(document) if Path(p).is_dir()]
        if made:
            return read_run(made[-1])
        name = document.graph.name
        if document.path is None and (not name or name == UNTITLED):
            return None   # a new graph: another unsaved "untitled" graph's runs are not its own
        return latest_run(runs_root(document, self.window.settings.value("runs_dir")), source=document.path,
                          graph_name=name)

    # ------------------------------------------------------------------ what the views show
    def _change_shown(self, shown) -> None:
        self.shown = shown
        self._epoch_due = None
        self._token = object()
        self.predictor = None
        self._predictor_for = None
        self.shownChanged.emit()

    def _graph_name(self) -> str:
        return (self.document.graph.name if self.document is not None else "") or "untitled"

    def _show_nothing(self) -> None:
        """The document has no run: every results view empty, and says so."""
        self._change_shown(None)
        name = self._graph_name()
        self.charts.reset(None)
        self.charts.set_overlays([])
        self.view.show_empty(f"No run of “{name}” yet.\n\nPress Train (F5) to train it: its loss and scores "
                             "are drawn here as it learns.")
        self.header.hide_banner()
        self.header.reset_progress()
        self._show_start_weights()
        self.header.set_device(self.machine_device or "checking…")   # no run shown: the device a run would use here
        self.header.show_message(READY)
        self.evaluation.clear(f"No run of “{name}” yet: its evaluation appears after the first validated epoch.")
        self.tryit.set_predictor(None, f"No run of “{name}” yet: train it, then ask the model here about "
                                       "samples of the validation split.")
        self._show_identity()
        self._show_background_run()
        self._sync_actions()

    def _show_start_weights(self) -> None:
        """The idle pill of a graph with no run: an imported model (or one set to fine-tune from a run)
        starts from weights, so it says "Pretrained", not "Not trained"; set again when the setting
        changes."""
        training = self.document.graph.training if self.document is not None else None
        start = training.get("weights") if isinstance(training, dict) else None
        self.header.set_state(IDLE, "Pretrained" if start else "")
        self.header.pill.setToolTip(f"No run yet; training and export start from {start}" if start else "")

    def _identity(self) -> tuple[str, str | None, str]:
        """(graph name, run name, note) of what the views show: which run of which graph, and whether
        the graph has changed since."""
        name = self._graph_name()
        shown = self.shown
        run_name, note = None, ""
        if isinstance(shown, LiveRun):
            run_name = shown.run_name
            if shown.graph_name != name:
                note = f"trained as “{shown.graph_name}”"
        elif shown is not None:
            run_name = shown.name
            note = run_note(shown)
            if shown.graph_name and shown.graph_name != name:   # from "All runs": another graph's run
                note += f" · not the open graph (“{name}”)"
                name = shown.graph_name
            elif self.document is not None and not self._same_network_as_document(shown):
                note = (note + " · " if note else "") + "an earlier version of this graph"
        return name, run_name, note

    def _show_identity(self) -> None:
        """Say which run of which graph every view shows."""
        self._identity_shown = name, run_name, note = self._identity()
        self.header.show_identity(name, run_name, note)
        caption = f"{name} · run {run_name}" if run_name else f"{name} · no run yet"
        if self.checkpoint is not None:
            caption = f"{name} · weights loaded from {self.checkpoint}"
        self.evaluation.set_caption(caption)
        self.tryit.set_caption(caption)
        self.runs_panel.set_graph(self.document.path if self.document else None, self._graph_name(),
                                  self._runs_made(self.document) if self.document else [])

    def _follow_edits(self) -> None:
        """The graph was edited (or an edit undone): "an earlier version of this graph" is said while it
        is true, not as it was when the run was shown."""
        shown = self.shown
        if shown is not None and not isinstance(shown, LiveRun) and self._identity() != self._identity_shown:
            self._show_identity()

    def _same_network_as_document(self, info) -> bool:
        graph_file = getattr(info, "graph_file", None)
        if graph_file is None or self.document is None:
            return True
        if self._run_graph[0] != graph_file:   # read once per shown run, not at every identity refresh
            try:
                self._run_graph = (graph_file, load_graph(graph_file))
            except Exception:  # noqa: BLE001 - an unreadable graph file: nothing to compare
                self._run_graph = (graph_file, None)
        graph = self._run_graph[1]
        return graph is None or same_network(graph, self.document.graph)

    def _show_live(self) -> None:
        """The live run on every view, rebuilt from its events so far."""
        live = self.live
        self._change_shown(live)
        self.header.hide_banner()
        self.charts.set_overlays([])
        self.evaluation.clear("Evaluation appears after the first validated epoch.")
        self.tryit.set_predictor(None, "Try it opens when the run has finished (or is stopped).")
        if live.started is not None:
            self.header.set_device(*device_text(live.started))   # its threads now (a Note may have changed them)
            self.charts.reset(live.started, previous=live.previous)
            for step in live.steps:
                self.charts.add_step(step)
            for end in live.epochs:
                self.charts.add_epoch(end)
            self.charts.redraw(force=True)
            self.view.show_charts()
            if live.epochs:
                self._show_epoch_details(live.epochs[-1])
        else:   # the run prepares: its charts, empty, are ready for its first step
            self.charts.expect(expected_task(live.session.graph))
            self.view.show_charts()
        self._show_identity()
        if live.active:
            self.header.set_state(live.state)
            if live.steps:
                self.header.show_progress(live.steps[-1], live.started)
            else:
                self.header.reset_progress()
                self.header.set_state(live.state)
                self.header.show_stage(live.stage)
        else:
            self._show_outcome(live.result)
            if isinstance(live.result, Failed):   # said again where it was said: its banner
                node = next((p.node_id for p in live.result.problems if p.node_id), None)
                self.header.show_banner(failure_text(live.graph_name, live.result), "error", node_id=node)
            self._want_predictor()
        self._sync_actions()

    def show_run_folder(self, path) -> None:
        """A finished (or foreign) run read from its folder: its curves, its last evaluation, its
        outcome; Try it from its checkpoint once the Train workspace shows."""
        info = read_run(path)
        self._change_shown(info)
        token = self._token
        self.header.hide_banner()
        self.charts.set_overlays([])
        self.charts.reset(None)
        self.view.show_empty(f"Reading run {info.name}…")
        self.evaluation.clear(f"Run {info.name} has no evaluation on record.")
        self.tryit.set_predictor(None, f"Loading run {info.name}…" if info.checkpoint else
                                 f"Run {info.name} saved no weights to try.")
        self._show_identity()
        self.header.set_state(header_state(info.status, info.message), pill_word(info.status, info.message))
        fraction = info.epoch / info.epochs if info.epochs else 0.0
        self.header.show_done(fraction, f"epoch {info.epoch}/{info.epochs or '?'}")
        self.header.show_message(folder_text(info), error=info.status in ("failed", "diverged"))
        self._show_background_run()
        self._sync_actions()

        def load():
            from layerloom.training.records import RunCurves, read_evaluation

            curves = RunCurves.from_run_dir(info.path)
            return curves, read_evaluation(info.path), read_started(info.path, curves.steps_per_epoch)

        def loaded(result) -> None:
            if token is not self._token:
                return   # the user moved on meanwhile
            curves, evaluation, started = result
            if started is not None and started.device_name:   # what that run trained on, not this machine
                self.header.set_device(*device_text(started))
            self.charts.reset(started, previous=curves)
            self.charts.redraw(force=True)
            if len(curves.steps) or curves.epochs:
                self.view.show_charts()
            else:
                self.view.show_empty(f"Run {info.name} recorded no steps.")
            if evaluation:
                classes = evaluation.get("classes") or (started.classes if started else None)
                self.evaluation.show_epoch(int(evaluation.get("epoch") or 0), evaluation.get("metrics") or {},
                                           evaluation_details(evaluation), classes,
                                           evaluation.get("task") or (started.task if started else None))
            elif started is not None and started.task == "regression":
                last = {name: values[-1] for name, values in curves.metrics.items() if values}
                self.evaluation.show_epoch(info.epoch, last, {}, None, "regression")
            self._want_predictor()

        run_in_background(load, loaded, lambda exc: token is self._token and self.view.show_empty(
            f"Cannot read run {info.name}: {exc}"), name="read-run")

    def _runs_deleted(self, paths) -> None:
        """Run folders deleted from the Runs list: the views that showed one of them show the graph's
        next latest run (or nothing), and weights loaded from one are no longer loaded."""
        gone = {Path(p).resolve() for p in paths}

        def deleted(path) -> bool:
            if path is None:
                return False
            path = Path(path).resolve()
            return any(folder == path or folder in path.parents for folder in gone)

        live, shown = self.live, self.shown
        stale = deleted(shown.run_dir if isinstance(shown, LiveRun) else getattr(shown, "path", None))
        if live is not None and not live.active and deleted(live.run_dir):
            self.live = None              # reopening its graph would show it again
            self._set_status("")          # "✔ Digits MLP: finished…" spoke of it
        if self.checkpoint is not None and deleted(self.checkpoint):
            self.checkpoint, stale = None, True
        if stale and not (isinstance(shown, LiveRun) and shown.active):
            self._show_latest()

    # ------------------------------------------------------------------ another graph still training
    def _show_background_run(self) -> None:
        """A run of another graph still training in this window: said in the Train workspace."""
        live = self.live
        if live is None or not live.active or live.belongs_to(self.document):
            return
        doing = {PAUSED: "is paused", STOPPING: "is stopping"}.get(live.state, "is still training")
        self.header.show_banner(f"“{live.graph_name}” {doing} in this window ({self._live_where()}). "
                                "One run trains at a time: stop it to train this graph.", "info",
                                action=("stop", "Stop it"))
        self.header.show_message(f"Train is available when “{live.graph_name}” ends (or Stop it).")

    def _show_shown_message(self) -> None:
        """The header's line about what the views show again (another graph's run, whose notice it
        carried, has ended)."""
        shown = self.shown
        if shown is None:
            self.header.show_message(BLOCKED if self._errors_refused else READY)
        elif not isinstance(shown, LiveRun):
            self.header.show_message(folder_text(shown), error=shown.status in ("failed", "diverged"))

    def _live_where(self) -> str:
        live = self.live
        if live is None:
            return ""
        if live.steps and live.started:
            return f"epoch {live.steps[-1].epoch}/{live.started.epochs}"
        return live.stage.rstrip("…").lower()

    # ------------------------------------------------------------------ the live run, epoch by epoch and at its end
    def _show_epoch_details(self, end) -> None:
        live = self.live
        started = live.started if live is not None else None
        task = started.task if started else None
        if end.details.get("confusion") is not None or task == "regression" or "val_loss" in end.metrics:
            self.evaluation.update_epoch(end, started.classes if started else None, task)

    def _show_outcome(self, result) -> None:
        """The header after a run of the shown graph ended."""
        live = self.live
        state = state_of(result)
        self.header.set_state(state, "Diverged" if isinstance(result, Failed) and result.kind == "diverged" else "")
        started = live.started if live is not None else None
        last = live.steps[-1] if live is not None and live.steps else None
        if last is not None and started is not None:
            self.header.show_done(last.progress, f"epoch {last.epoch}/{started.epochs}  ·  step {last.step:,}")
        else:
            self.header.show_done(0.0, "")
        self.header.show_message(outcome_text(result), error=isinstance(result, Failed))
        if isinstance(result, Finished) and result.warnings:
            self.header.show_banner(learning_warning(live.graph_name if live else self._graph_name(), result),
                                    "warning")
        self._show_identity()
