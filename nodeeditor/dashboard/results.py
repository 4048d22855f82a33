"""The shown run's results beyond its charts, and where they go.

A ``Predictor`` of the shown run's weights for Try it and the mistakes gallery (or the predicted
against true plot of a regression), built off the GUI thread and only once the Train workspace, or
its Try it or Evaluation dock, is on screen (it imports torch); a checkpoint loaded from the Runs list
into the current graph; the dataset preview of the Training tab; the Runs list's overlays on the
charts; and what Export exports, with its dialog. A Preview of a built-in set that is not on disk asks
to download it first (``dataset_gate``, which Train uses too).

``RunResults`` is a part of ``Dashboard`` (``controller``): it reads ``shown``, ``document`` and the
token that changes with ``shown`` (late results are dropped), and sets ``predictor`` and
``checkpoint``.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QStandardPaths, Qt
from PySide6.QtWidgets import QMessageBox

from layerloom.files.graphfile import same_network
from layerloom.training.records import best_checkpoint

from layerloom.nodeeditor.adapters.background import run_in_background
from layerloom.nodeeditor.dashboard.train_view import LiveRun

GALLERY_SIZE = 24


class RunResults:
    """Try it, the gallery, checkpoints and Export for the shown run (a part of ``Dashboard``)."""

    # ------------------------------------------------------------------ Try it and the gallery
    def workspace_changed(self, name: str) -> None:
        self._want_predictor()

    def _want_predictor(self) -> None:
        """Build the shown run's predictor when the Train workspace (or its Try it or Evaluation tab)
        is on screen; a predictor imports torch, which the Design workspace never waits for."""
        shown = self.shown
        if shown is None or self._predictor_for is shown or self.checkpoint is not None:
            return
        if isinstance(shown, LiveRun) and (shown.active or not shown.run_dir):
            return
        from layerloom.nodeeditor.panels.workspaces import TRAIN

        if self.window.workspaces.current != TRAIN and not any(
                self.docks[n].isVisible() for n in ("tryit", "evaluation")):
            return
        run_dir = shown.run_dir if isinstance(shown, LiveRun) else shown.path
        if isinstance(shown, LiveRun):
            base_dir = shown.session.base_dir
        else:
            base_dir = self.document.path.parent if self.document is not None and self.document.path else None
        if not (Path(run_dir) / "checkpoints").is_dir():
            self.tryit.set_predictor(None, "This run saved no weights to try.")
            return
        self._predictor_for = shown
        token = self._token
        self.tryit.set_predictor(None, "Loading the model…")

        def ready(result) -> None:
            if token is not self._token:
                return  # another run is shown now
            self._show_predictor(*result)
            self.resultsReady.emit(result[0])

        def failed(exc) -> None:
            if token is not self._token:
                return
            self.tryit.set_predictor(None, f"Cannot try this run's model: {exc}")
            self.window.statusBar().showMessage(f"Cannot try the model: {exc}", 8000)
            self.resultsReady.emit(None)

        run_in_background(lambda: build_predictor(run_dir, None, base_dir), ready, failed, name="predictor")

    def _show_predictor(self, predictor, mistakes, regression=None) -> None:
        """A model to try: the Try it panel, and its most confident mistakes in the gallery (or its
        predicted against true values for a regression)."""
        self.predictor = predictor
        self.tryit.set_predictor(predictor)
        if predictor.weights_epoch is not None:   # the best epoch's weights, which Export takes too
            self.tryit.set_caption(f"{self.tryit.caption.text()} · weights of epoch {predictor.weights_epoch}")
        unavailable = None if predictor.has_samples else (predictor.note or "no dataset samples")
        if predictor.is_classifier:
            self.evaluation.set_misclassified(mistakes[:GALLERY_SIZE], predictor.classes, predictor.value_range,
                                              predictor.image_shape, total=len(mistakes),
                                              epoch=predictor.weights_epoch, unavailable=unavailable)
        elif regression is not None:
            self.evaluation.set_regression_points(*regression)
        elif unavailable:   # no samples to predict: no points of an earlier run stay, and the plot says why
            self.evaluation.regression.set_points([], [], note=f"No points: {unavailable}")

    def dataset_gate(self):
        """The part that asks before a built-in dataset downloads (``panels.download_dialog``), made once."""
        gate = getattr(self, "_dataset_gate", None)
        if gate is None:
            from layerloom.nodeeditor.panels.download_dialog import DatasetGate

            gate = self._dataset_gate = DatasetGate(
                self.window, report=lambda text: self.window.statusBar().showMessage(text, 10000))
        return gate

    def preview_dataset(self) -> None:
        """Load the dataset the settings describe (off the GUI thread) and show what it holds; a built-in
        set that is not on disk is downloaded first when the user agrees."""
        document = self.window.document
        settings = dict((document.graph.training or {}).get("dataset") or {})
        base_dir = document.path.parent if document.path else None

        def downloaded() -> None:
            if self.window.document is document:
                self.preview_dataset()

        if not self.dataset_gate().ensure(settings, downloaded,
                                          lambda text: self.panel.preview.setText(f"✖ {text}")):
            self.panel.preview.setText("Waiting for the download…")
            return
        self.panel.preview.setText("Loading…")

        graph = document.graph.copy()   # the Inputs and Targets the data is matched to, as they are now

        def load():
            from layerloom.data import load_dataset
            from layerloom.training.feeds import data_layout

            return load_dataset(settings, base_dir=base_dir, layout=data_layout(graph))

        def shown(dataset) -> None:
            if self.window.document is document:
                self.panel.show_dataset(dataset)

        def failed(exc) -> None:
            text = str(exc).replace("training.dataset.", "dataset ").replace("training.", "")
            self.panel.preview.setText(f"✖ {text}")

        run_in_background(load, shown, failed, name="dataset-preview")

    # ------------------------------------------------------------------ runs, checkpoints, export
    def _overlay(self, runs) -> None:
        shown = self.shown
        current = shown.run_dir if isinstance(shown, LiveRun) else (shown.path if shown is not None else None)
        self.charts.set_overlays([r for r in runs if not current or Path(current).name != r.name])
        if runs and not self.view.showing_charts:
            self.view.show_charts()

    def load_checkpoint(self, path) -> None:
        """Use a checkpoint's weights with the current graph (Try it, the gallery, Export). Refused,
        with the reason, when they do not fit the graph."""
        document = self.window.document
        graph, base_dir = document.graph.copy(), document.path.parent if document.path else None

        def loaded(result) -> None:
            if self.window.document is not document:
                return
            self.checkpoint = Path(path)
            self._show_predictor(*result)
            self._show_identity()
            self.window.statusBar().showMessage(f"Loaded {path} into the current graph", 6000)
            self.docks["tryit"].raise_()

        def refused(exc) -> None:
            text = str(exc)   # the checkpoint's own errors name the file already
            QMessageBox.warning(self.window, "Cannot load checkpoint", text if str(path) in text else f"{path}:\n{text}")

        run_in_background(lambda: build_predictor(path, graph, base_dir), loaded, refused, name="load-checkpoint")

    def export_source(self):
        """What Export exports: the graph and the weights that belong to it. A checkpoint loaded
        from the Runs list; the shown run's graph and best weights while the document still describes
        the same network (moving nodes does not count); else the document's graph, untrained."""
        document = self.window.document
        if self.checkpoint is not None:
            return document.graph, self.checkpoint
        shown = self.shown
        if isinstance(shown, LiveRun) and not shown.active and shown.run_dir \
                and same_network(shown.session.graph, document.graph):
            return shown.session.graph, best_checkpoint(Path(shown.run_dir))
        if shown is not None and not isinstance(shown, LiveRun) and shown.graph_file is not None:
            from layerloom import load_graph

            try:
                graph = load_graph(shown.graph_file)
            except Exception:  # noqa: BLE001 - an unreadable run graph: export the document untrained
                graph = None
            if graph is not None and same_network(graph, document.graph) and shown.checkpoint is not None:
                return graph, best_checkpoint(shown.path)
        return document.graph, None

    def export(self) -> None:
        from layerloom.nodeeditor.panels.export_dialog import ExportDialog

        document = self.window.document
        graph, checkpoint = self.export_source()
        base_dir = document.path.parent if document.path else None
        default = base_dir or Path(QStandardPaths.writableLocation(
            QStandardPaths.StandardLocation.DocumentsLocation) or Path.home()) / "LayerLoom"
        dialog = ExportDialog(graph, checkpoint, base_dir, default / "export", parent=self.window,
                              warm=self.window.warm_pool if self.window._warm_wanted else None)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.export_dialog = dialog
        dialog.show()


def build_predictor(checkpoint, graph, base_dir):
    """Off the GUI thread: a Predictor for a checkpoint or run folder (with ``graph``, or the one it
    trained), its mistakes on the validation split, and for a regression its (true, predicted) values."""
    import numpy as np

    from layerloom.training.inference import Predictor

    predictor = Predictor.from_checkpoint(checkpoint, graph=graph, base_dir=base_dir)
    mistakes = predictor.misclassified() if predictor.has_samples else []
    regression = None
    if predictor.task == "regression" and predictor.has_samples:
        samples = predictor.validation_samples(limit=2000)
        predicted = predictor.outputs(samples.x)
        regression = (np.asarray(samples.y, np.float64).reshape(-1), np.asarray(predicted, np.float64).reshape(-1))
    return predictor, mistakes, regression
