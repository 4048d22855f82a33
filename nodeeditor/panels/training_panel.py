"""The training panel: the graph's ``training`` section as a form, and the dataset with a preview. (The
run's controls and progress are the Train workspace's header: ``run_header.py``.)

The "Start from weights" group is fine-tuning's: the ``weights`` setting with a Browse… button, and how that
file fits the graph (what loads, what starts fresh: ``layerloom.training.finetune.preview_fit``, worked out
off the GUI thread) after the setting changes, a Preview, or when a run starts. The Runs dock's "Fine-tune
from this run" sets it through ``fine_tune_from``.

The form is generated from the runtime's setting specs (``layerloom.training.config``): the same table
that checks graph files and the CLI's options, so ranges, choices and doc lines match everywhere. A
change goes through the undo stack as one ``SetMetaCommand`` and is saved with the graph; a refused
value shows the spec's reason under its field and changes nothing. The form is built once per document
and updated in place after every edit, undo or redo, so each field shows the value a run will use
while focus, scroll position and open "More settings" stay where they were.
"""

from __future__ import annotations

import copy
from typing import Any

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QPainter, QPixmap
from PySide6.QtWidgets import (QComboBox, QFileDialog, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QPushButton, QScrollArea, QSizePolicy, QToolButton,
                               QVBoxLayout, QWidget)

from layerloom import ParamError
from layerloom.data import BUILTINS, DATASET_PARAMS
from layerloom.training.config import EARLY_STOPPING_PARAMS, OPTIMIZER_PARAMS, SCHEDULE_PARAMS, TOP_PARAMS, \
    check_training

from layerloom.nodeeditor.document.commands import SetMetaCommand
from layerloom.nodeeditor.panels.start_weights_form import WEIGHTS, FormText, StartWeightsForm, breakable
from layerloom.nodeeditor.panels.param_editors import ComboBox, Fields, error_label, param_editor, same_value, value_text

FILE_CHOICE = "__file__"

# What the form shows first; the rest of each section sits under "More settings".
MAIN = {
    None: ("epochs", "batch_size", "monitor", "device", "precision"),
    "optimizer": ("name", "lr", "weight_decay"),
    "schedule": ("name",),
    "early_stopping": ("enabled", "patience"),
}
SECTION_PARAMS = {None: TOP_PARAMS, "optimizer": OPTIMIZER_PARAMS, "schedule": SCHEDULE_PARAMS,
                  "early_stopping": EARLY_STOPPING_PARAMS, "dataset": DATASET_PARAMS}
TITLES = {None: "Training", "optimizer": "Optimizer", "schedule": "Learning-rate schedule",
          "early_stopping": "Early stopping", "dataset": "Dataset"}


class TrainingPanel(StartWeightsForm, QWidget):
    previewRequested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.document = None
        self.fields = Fields()
        self.editors: dict[str, QWidget] = self.fields.editors     # "optimizer.lr" -> editor
        self.errors: dict[str, QLabel] = self.fields.errors
        self._followed = None                     # the document's metaChanged signal
        self._open: set[str | None] = set()       # sections whose "More settings" are open
        self._toggles: dict[str | None, QToolButton] = {}
        self._previewed: dict | None = None       # the dataset settings the preview shows
        self.note = QLabel("A run is training with these settings: they can be changed when it ends.")
        self.note.setWordWrap(True)
        self.note.setStyleSheet("color: palette(placeholder-text);")
        self.note.hide()

        self._body = QWidget()
        self._body_layout = QVBoxLayout(self._body)
        self._body_layout.setContentsMargins(0, 0, 0, 0)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)  # the form fits the dock
        scroll.setWidget(self._body)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.note)
        layout.addWidget(scroll, 1)
        self.preview = FormText()
        self.preview_images = PictureStrip()
        self._init_start_weights()

    # ------------------------------------------------------------------ the form
    def set_document(self, document) -> None:
        """Show ``document``'s settings (and follow its edits, undo and redo; no longer the one before's)."""
        if self._followed is not None:
            try:
                self._followed.disconnect(self._meta_changed)
            except (RuntimeError, TypeError):  # its document is gone already
                pass
        self.document = document
        self._followed = document.bridge.metaChanged
        self._followed.connect(self._meta_changed)
        self._previewed = None
        self.rebuild()

    def _meta_changed(self, key: str) -> None:
        if key == "training":
            self.refresh()

    def rebuild(self) -> None:
        """The form made anew for the document (a new document); "More settings" stay as they were."""
        while self._body_layout.count():
            item = self._body_layout.takeAt(0)
            if item.widget() is not None:
                item.widget().hide()   # gone now, deleted later (deferred deletion waits for the event loop)
                item.widget().deleteLater()
        self.fields = Fields()
        self.editors, self.errors = self.fields.editors, self.fields.errors
        self._toggles = {}
        if self.document is None:
            return
        raw = self.document.graph.training if isinstance(self.document.graph.training, dict) else {}
        self._body_layout.addWidget(self._dataset_group(raw))
        self._body_layout.addWidget(self._weights_group(raw))
        for section in (None, "optimizer", "schedule", "early_stopping"):
            self._body_layout.addWidget(self._group(section, raw))
        self._body_layout.addStretch(1)
        for section, toggle in self._toggles.items():   # after the rows are in place (reparenting hides)
            toggle.setChecked(section in self._open)
        self.refresh(rebuilt=True)

    def refresh(self, rebuilt: bool = False) -> None:
        """Every field shows what the graph's ``training`` section holds, in place (after an edit, undo
        or redo: focus, scroll position and open sections stay). A value the spec refuses (a hand-edited
        file) is shown as it is, with the spec's reason under it."""
        if self.document is None or not self.fields.params:
            return
        raw = self.document.graph.training
        raw = raw if isinstance(raw, dict) else {}
        _, problems = check_training(raw)
        messages: dict[str, str] = {}
        for problem in problems:
            where, _, message = problem.partition(": ")
            key = where.removeprefix("training.")
            if key in SECTION_PARAMS:   # a whole section is bad: said under its first field
                key = _key(key, SECTION_PARAMS[key][0].name)
            messages.setdefault(key, f"{key.rsplit('.', 1)[-1]}: {message}")
        for key, param in self.fields.params.items():
            if not self.fields.show(key, _raw_value(raw, key, param), messages.get(key)) and not rebuilt:
                self.rebuild()   # an editor of another kind is needed
                return
        dataset = raw.get("dataset") if isinstance(raw.get("dataset"), dict) else {}
        self._show_dataset_choice(dataset, messages.get("dataset.name"))
        if self._previewed is not None and dataset != self._previewed:
            self._previewed = None   # the preview showed other data
            self.preview.clear()
            self.preview_images.set_pictures([])
        if self._fit_is_stale(raw):
            self.check_fit()   # another weights file: say how it fits

    def _group(self, section: str | None, raw: dict) -> QGroupBox:
        group = QGroupBox(TITLES[section])
        form = QFormLayout(group)
        more = QWidget()
        more_form = QFormLayout(more)
        more_form.setContentsMargins(0, 0, 0, 0)
        main = MAIN.get(section, ())
        for param in SECTION_PARAMS[section]:
            if section is None and param.name == WEIGHTS:
                continue   # in its own group ("Start from weights")
            self._add_field(form if param.name in main else more_form, section, param, raw)
        if more_form.rowCount():
            form.addRow(self._disclosure(section, more))
            form.addRow(more)
        return group

    def _add_field(self, form: QFormLayout, section: str | None, param, raw: dict) -> QWidget:
        key = _key(section, param.name)
        editor = param_editor(param, _raw_value(raw, key, param),
                              lambda v, s=section, n=param.name: self.apply(s, n, v),
                              lambda v, s=section, n=param.name: self.apply(s, n, v, step=True))
        if isinstance(editor, QComboBox):
            _compact(editor)
        error = self.fields.add(key, param, editor)
        form.addRow(param.name.replace("_", " "), editor)
        form.addRow(error)
        return editor

    def _dataset_group(self, raw: dict) -> QGroupBox:
        group = QGroupBox("Dataset")
        form = QFormLayout(group)
        combo = ComboBox()
        _compact(combo)
        for info in BUILTINS.values():
            combo.addItem(info.title, info.name)
            combo.setItemData(combo.count() - 1, f"{info.name}: {info.doc}", Qt.ItemDataRole.ToolTipRole)
        combo.addItem("File or folder…", FILE_CHOICE)
        combo.activated.connect(lambda index: self._dataset_chosen(combo.itemData(index)))
        self.editors["dataset.name"] = combo
        self.errors["dataset.name"] = error_label()
        self._builtin_count = combo.count()
        form.addRow("data", combo)
        form.addRow(self.errors["dataset.name"])
        path_param = next(p for p in DATASET_PARAMS if p.name == "path")
        holder = QWidget()
        row = QHBoxLayout(holder)
        row.setContentsMargins(0, 0, 0, 0)
        line = param_editor(path_param, None, lambda v: self.apply("dataset", "path", v))
        error = self.fields.add("dataset.path", path_param, line)
        browse = QPushButton("…")
        browse.setToolTip("Choose a dataset file or folder")
        browse.setFixedWidth(32)
        browse.clicked.connect(self.browse_dataset)
        row.addWidget(line, 1)
        row.addWidget(browse)
        form.addRow("path", holder)
        form.addRow(error)
        more = QWidget()
        more_form = QFormLayout(more)
        more_form.setContentsMargins(0, 0, 0, 0)
        for param in DATASET_PARAMS:
            if param.name not in ("name", "path"):
                self._add_field(more_form, "dataset", param, raw)
        preview = QPushButton("Preview")
        preview.setToolTip("Load the dataset and show its shapes, classes and a few samples")
        preview.clicked.connect(self._preview_clicked)
        form.addRow(preview, self._disclosure("dataset", more))
        form.addRow(more)
        self.preview = FormText()
        self.preview_images = PictureStrip()
        form.addRow(self.preview)
        form.addRow(self.preview_images)
        return group

    def _disclosure(self, section: str | None, more: QWidget) -> QToolButton:
        toggle = _disclosure(more)
        toggle.toggled.connect(lambda on: self._open.add(section) if on else self._open.discard(section))
        self._toggles[section] = toggle
        return toggle

    def _show_dataset_choice(self, dataset: dict, problem: str | None) -> None:
        """The data combo: the built-in set named, or "File or folder…" when a path is set; a name
        that is not built in is shown as it is."""
        combo = self.editors["dataset.name"]
        blocked = combo.blockSignals(True)
        while combo.count() > self._builtin_count:
            combo.removeItem(self._builtin_count)
        name = dataset.get("name", "digits")
        wanted = FILE_CHOICE if dataset.get("path") else name
        index = combo.findData(wanted)
        if index < 0:
            combo.addItem(f"{value_text(name) or 'empty'} (not built in)", name)
            index = combo.count() - 1
        combo.setCurrentIndex(index)
        combo.blockSignals(blocked)
        label = self.errors["dataset.name"]
        label.setText(problem or "")
        label.setVisible(bool(problem))

    def _dataset_chosen(self, name: str) -> None:
        if name == FILE_CHOICE:
            self.browse_dataset()
            return
        raw = copy.deepcopy(self.document.graph.training or {})
        dataset = dict(raw.get("dataset") or {})
        if same_value(dataset.get("name", "digits"), name) and not dataset.get("path"):
            return
        dataset["name"] = name
        dataset.pop("path", None)
        raw["dataset"] = dataset
        self._push(raw, f"Use dataset {name}")

    def browse_dataset(self) -> None:
        start = str(self.document.path.parent) if self.document and self.document.path else ""
        path, _ = QFileDialog.getOpenFileName(self, "Dataset file", start,
                                              "Data (*.csv *.tsv *.npz *.gz *ubyte*);;All files (*)")
        if path:
            self.apply("dataset", "path", path)
        else:
            self.refresh()  # the combo back on what the graph says

    def apply(self, section: str | None, name: str, value: Any, step: bool = False) -> bool:
        """Set one training setting through the undo stack; a value the spec refuses shows why under
        its field, and the field shows again the value kept. Consecutive ``step``s (arrow keys, wheel)
        of one field are one undo step."""
        if self.document is None:
            return False
        key = _key(section, name)
        param = next(p for p in SECTION_PARAMS[section] if p.name == name)
        raw = copy.deepcopy(self.document.graph.training or {})
        if section is not None and not isinstance(raw.get(section), dict):
            raw[section] = {}
        target = raw if section is None else raw[section]
        current = target.get(name, param.default)
        if same_value(current, value):
            self.fields.clear(key)
            self.refresh()   # a complaint about the value the file holds comes back
            return True
        try:
            checked = param.to_json(param.coerce(value))
        except ParamError as exc:
            self.fields.refuse(key, str(exc), current)
            return False
        if checked is None and (section, name) in (("dataset", "path"), (None, WEIGHTS)):
            target.pop(name, None)
        else:
            target[name] = checked
        _, problems = check_training(raw)   # the spec's rule, as files and the command line see it
        mine = [p.partition(": ")[2] for p in problems if p.startswith(f"training.{key}:")]
        if mine:
            self.fields.refuse(key, f"{name}: {mine[0]}", current)
            return False
        self._push(raw, f"Set {key}", key if step else None)
        return True

    def commit_pending(self) -> str | None:
        """Commit a value typed but not yet entered in the form (call before a run reads the settings,
        so that the field and the run agree). The key of the field that had focus, or None."""
        return self.fields.commit_focused()

    def _push(self, raw: dict, text: str, merge: str | None = None) -> None:
        self.document.undo_stack.push(SetMetaCommand(self.document.graph, "training", raw, text, merge))

    def _preview_clicked(self) -> None:
        dataset = (self.document.graph.training or {}).get("dataset") if self.document is not None else None
        self._previewed = copy.deepcopy(dataset) if isinstance(dataset, dict) else {}
        self.previewRequested.emit()
        self.check_fit()

    def show_dataset(self, dataset, count: int = 8) -> None:
        """The preview: the dataset's one-line summary, its classes, and its first training samples
        (pictures for image data, values otherwise), wrapped to the dock's width."""
        from layerloom.nodeeditor.theme.pictures import crisp_pixmap, image_array, to_qimage

        lines = [dataset.summary()]
        if dataset.classes is not None:
            shown = ", ".join(dataset.classes[:12]) + (" …" if len(dataset.classes) > 12 else "")
            lines.append(f"classes: {shown}")
        pictures = []
        for i in range(min(count, dataset.num_train)):
            pixels = image_array(dataset.x_train[i]) if dataset.image else None
            if pixels is None:
                break
            pictures.append(crisp_pixmap(to_qimage(pixels, dataset.value_range), PictureStrip.SIZE))
        if not pictures and dataset.num_train:
            values = ", ".join(f"{v:.3g}" for v in list(dataset.x_train[0].reshape(-1))[:8])
            lines.append(f"first sample: [{values}{', …' if dataset.x_train[0].size > 8 else ''}]")
        self.preview.setText(breakable("\n".join(lines)))
        self.preview_images.set_pictures(pictures)

    # ------------------------------------------------------------------ the run
    def set_running(self, running: bool) -> None:
        """While this graph trains, its settings are the run's: the form is read-only and says so."""
        self._body.setEnabled(not running)
        self.note.setVisible(running)
        if running:
            self.check_fit()   # what the run starts from, for the graph as it is trained


def _disclosure(more: QWidget) -> QToolButton:
    """A "More settings" arrow button that shows and hides ``more`` (hidden at first)."""
    toggle = QToolButton(text="More settings", checkable=True)
    toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    toggle.setArrowType(Qt.ArrowType.RightArrow)
    toggle.toggled.connect(lambda on: (more.setVisible(on), toggle.setArrowType(
        Qt.ArrowType.DownArrow if on else Qt.ArrowType.RightArrow)))
    more.hide()
    return toggle


def _compact(combo: QComboBox) -> None:
    """A combo box that may be narrower than its longest entry (the dock decides the width)."""
    combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    combo.setMinimumContentsLength(8)


def _key(section: str | None, name: str) -> str:
    return name if section is None else f"{section}.{name}"


def _raw_value(raw: dict, key: str, param) -> Any:
    """The value the file holds for ``key`` as it is (right or wrong), or the spec's default."""
    section, _, name = key.rpartition(".")
    holder = raw.get(section) if section else raw
    return holder[name] if isinstance(holder, dict) and name in holder else param.default


class PictureStrip(QWidget):
    """A dataset's sample pictures in rows that wrap to the width the form gives it."""

    SIZE, GAP = 36, 4

    def __init__(self, parent=None):
        super().__init__(parent)
        self.pictures: list[QPixmap] = []
        policy = QSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        policy.setHeightForWidth(True)
        self.setSizePolicy(policy)
        self.hide()

    def set_pictures(self, pictures: list[QPixmap]) -> None:
        self.pictures = list(pictures)
        self.setVisible(bool(self.pictures))
        self.updateGeometry()
        self.update()

    def per_row(self, width: int) -> int:
        return max(1, (width + self.GAP) // (self.SIZE + self.GAP))

    def hasHeightForWidth(self) -> bool:  # noqa: N802 - Qt override
        return True

    def heightForWidth(self, width: int) -> int:  # noqa: N802 - Qt override
        rows = -(-len(self.pictures) // self.per_row(width))
        return rows * (self.SIZE + self.GAP)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        count = min(len(self.pictures), 8)
        return QSize(count * (self.SIZE + self.GAP), self.heightForWidth(count * (self.SIZE + self.GAP)))

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return QSize(0, 0)

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt override
        painter = QPainter(self)
        per_row, step = self.per_row(self.width()), self.SIZE + self.GAP
        for k, picture in enumerate(self.pictures):
            painter.drawPixmap((k % per_row) * step, (k // per_row) * step, picture)
        painter.end()
