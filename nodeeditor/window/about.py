"""Help > About: LayerLoom's version, the libraries it bundles with their versions and licences, and
the folders it reads and writes (plugins, user data, recovery copies, runs, examples).

Versions and licence names come from the installed packages' metadata (``importlib.metadata``):
the licence expression (PEP 639) where a package declares one, else its short ``License`` field, else
its licence classifier; ``KNOWN_LICENCES`` only fills in for a package that declares none. The list
of libraries is LayerLoom's own requirements, so it follows pyproject.toml.
"""

from __future__ import annotations

import platform
import re
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from PySide6.QtCore import Qt, QUrl, qVersion
from PySide6.QtWidgets import (QAbstractItemView, QDialog, QDialogButtonBox, QHeaderView, QLabel, QTableWidget,
                               QTableWidgetItem, QVBoxLayout)

from layerloom import __version__
from layerloom.nodeeditor.theme.icons import app_icon

# LayerLoom's requirements, where its own metadata cannot be read (a bundle that dropped it)
FALLBACK_LIBRARIES = ("torch", "PySide6-Essentials", "pyqtgraph", "onnx", "onnxruntime", "onnxscript", "numpy",
                      "scikit-learn", "torchmetrics", "pillow", "tqdm")
# The licences of packages whose metadata names none (checked against their upstream LICENSE files)
KNOWN_LICENCES = {"torch": "BSD-3-Clause", "PySide6-Essentials": "LGPL-3.0-only OR GPL-2.0-only OR GPL-3.0-only",
                  "shiboken6": "LGPL-3.0-only OR GPL-2.0-only OR GPL-3.0-only", "onnx": "Apache-2.0",
                  "onnxruntime": "MIT", "onnxscript": "MIT", "pyqtgraph": "MIT", "numpy": "BSD-3-Clause",
                  "scikit-learn": "BSD-3-Clause", "torchmetrics": "Apache-2.0", "pillow": "MIT-CMU",
                  "tqdm": "MPL-2.0 AND MIT"}
UNKNOWN = "see the package's files"
MAX_LICENSE_FIELD = 80   # a longer License field is the licence's whole text, not its name


@dataclass(frozen=True)
class Library:
    name: str
    version: str
    licence: str


def licence_name(meta, name: str = "") -> str:
    """The licence a package's metadata names: its ``License-Expression``, its short ``License``
    field, or its ``License ::`` classifiers; ``KNOWN_LICENCES[name]`` when it names none."""
    expression = (meta.get("License-Expression") or "").strip()
    if expression:
        return expression
    field = (meta.get("License") or "").strip()
    if field and "\n" not in field and len(field) <= MAX_LICENSE_FIELD and field.upper() != "UNKNOWN":
        return field
    classifiers = [c.split("::")[-1].strip() for c in meta.get_all("Classifier") or []
                   if c.startswith("License ::") and c.count("::") >= 2]
    if classifiers:
        return " / ".join(classifiers)
    return KNOWN_LICENCES.get(name, UNKNOWN)


def required_libraries() -> list[str]:
    """The packages LayerLoom needs to run (its requirements without extras), by distribution name."""
    try:
        requires = metadata.requires("layerloom") or []
    except metadata.PackageNotFoundError:
        return list(FALLBACK_LIBRARIES)
    names = [re.match(r"[A-Za-z0-9._-]+", req).group(0) for req in requires if "extra ==" not in req]
    return names or list(FALLBACK_LIBRARIES)


def bundled_libraries() -> list[Library]:
    """Each library LayerLoom runs on, with its installed version and licence; Qt itself first."""
    found = [Library("Qt", qVersion(), "LGPL-3.0-only OR GPL-3.0-only"),
             Library("Python", platform.python_version(), "PSF-2.0")]
    for name in required_libraries():
        try:
            meta = metadata.metadata(name)
            found.append(Library(name, metadata.version(name), licence_name(meta, name)))
        except metadata.PackageNotFoundError:
            found.append(Library(name, "not installed", KNOWN_LICENCES.get(name, UNKNOWN)))
    return found


def layerloom_folders(window) -> list[tuple[str, Path]]:
    """``(what, folder)``: where LayerLoom finds plugins and keeps its data, for ``window``'s settings."""
    from layerloom.catalog.plugins import plugin_dirs
    from layerloom.core.paths import user_data_dir
    from layerloom.data.downloads import data_dir
    from layerloom.files.resources import examples_dir
    from layerloom.nodeeditor.dashboard.train_view import unsaved_runs_dir

    folders = [("Plugins", folder) for folder in plugin_dirs()]
    folders += [("User data", user_data_dir()),
                ("Downloaded datasets", data_dir() / "datasets"),
                ("Recovery copies", Path(window.autosaver.folder)),
                ("Runs of unsaved graphs", unsaved_runs_dir(window.settings.value("runs_dir") or None)),
                ("Examples", examples_dir())]
    return folders


class AboutDialog(QDialog):
    """The version, the libraries (name, version, licence) and the folders, each folder a link."""

    def __init__(self, window):
        super().__init__(window)
        self.setWindowTitle("About LayerLoom")
        self.setWindowIcon(app_icon())
        self.version = QLabel(f"<h2>LayerLoom {__version__}</h2>"
                              "<p>Design, train and export neural networks by wiring layers.</p>")
        self.libraries = bundled_libraries()
        table = self.table = QTableWidget(len(self.libraries), 3)
        table.setHorizontalHeaderLabels(["Library", "Version", "Licence"])
        for row, library in enumerate(self.libraries):
            for column, text in enumerate((library.name, library.version, library.licence)):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                table.setItem(row, column, item)
        table.verticalHeader().hide()
        table.verticalHeader().setDefaultSectionSize(table.fontMetrics().height() + 6)
        table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        header = table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        table.setWordWrap(False)

        self.folders = layerloom_folders(window)
        rows = "".join(f"<tr><td>{what}:&nbsp;</td><td><a href='{QUrl.fromLocalFile(str(path)).toString()}'>"
                       f"{_escape(str(path))}</a></td></tr>" for what, path in self.folders)
        self.folders_label = QLabel(f"<b>Folders</b><table>{rows}</table>")
        self.folders_label.setOpenExternalLinks(True)
        self.folders_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(self.version)
        layout.addWidget(QLabel("<b>Libraries</b> (each under its own licence)"))
        layout.addWidget(table, 1)
        layout.addWidget(self.folders_label)
        layout.addWidget(buttons)
        self.resize(720, 560)

    def library(self, name: str) -> Library | None:
        return next((lib for lib in self.libraries if lib.name.lower() == name.lower()), None)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
