"""Asking before a built-in dataset downloads, and the download itself, off the GUI thread and cancellable.

``DatasetGate.ensure(settings, then)`` is what Preview and Train call first: when the settings name a
downloadable built-in (MNIST, CIFAR-10...) that is not on disk, it asks "Download MNIST (11 MB) from
...? It is kept in <folder>" and, on Yes, shows a ``DownloadDialog`` (a progress bar and Cancel) while
``layerloom.data.downloads.download`` runs on a thread; once the files are checked it calls ``then()``,
so the user's Preview or Train goes on. No, Cancel or a failure say so and change nothing (the graph is
never touched here). Nothing is fetched without the Yes.

The runtime decides what is missing and fetches it; this module only asks and shows.
"""

from __future__ import annotations

import threading
from typing import Callable

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QMessageBox, QProgressBar, QVBoxLayout, QWidget

from layerloom.data.downloads import (DEFAULT_TIMEOUT_S, DownloadCancelled, DownloadNeeded, download, download_needed,
                                      is_downloadable, size_text)

BAR_STEPS = 1000


def needed_for(settings: dict | None) -> DownloadNeeded | None:
    """What the dataset ``settings`` (a graph's ``training.dataset``) would need to download first, or None
    (a file path, a set that ships, or one already on disk)."""
    settings = settings if isinstance(settings, dict) else {}
    if settings.get("path"):
        return None
    name = settings.get("name", "digits")
    if not isinstance(name, str) or not is_downloadable(name):
        return None
    return download_needed(name)


def question_text(needed: DownloadNeeded) -> str:
    hosts = ", ".join(sorted({f.url.split("/")[2] for f in needed.files}))
    return (f"Download {needed.title} ({size_text(needed.size)}) from {hosts}?\n\n"
            f"It is kept in {needed.folder}, so later runs use it without the network.")


class _Relay(QObject):
    """Carries the worker thread's news to the GUI thread (queued: the relay lives on the GUI thread)."""

    progress = Signal(object, object)   # bytes done, bytes in all
    done = Signal(object)               # the folder
    failed = Signal(object)             # the exception


class DownloadDialog(QDialog):
    """A download's progress with Cancel. Emits ``succeeded(folder)``, ``failed(message)`` or ``cancelled()``
    once; the dialog closes itself."""

    succeeded = Signal(object)
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, parent: QWidget | None, needed: DownloadNeeded, timeout: float = DEFAULT_TIMEOUT_S):
        super().__init__(parent)
        self.setObjectName("downloadDialog")
        self.setWindowTitle(f"Downloading {needed.title}")
        self.needed, self.timeout = needed, timeout
        self._stop = threading.Event()
        self._ended = False
        self.label = QLabel(f"Downloading {needed.title} ({size_text(needed.size)}) into {needed.folder}")
        self.label.setWordWrap(True)
        self.bar = QProgressBar()
        self.bar.setRange(0, BAR_STEPS)
        self.bar.setFormat("starting…")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.label)
        layout.addWidget(self.bar)
        layout.addWidget(self.buttons)
        self.setMinimumWidth(460)
        self.relay = _Relay()
        self.relay.progress.connect(self._progress)
        self.relay.done.connect(self._done)
        self.relay.failed.connect(self._failed)

    @property
    def cancel_button(self):
        return self.buttons.button(QDialogButtonBox.StandardButton.Cancel)

    def start(self) -> None:
        """Show the dialog (window-modal, not blocking) and start the download on a thread."""
        relay, stop, needed, timeout = self.relay, self._stop, self.needed, self.timeout

        def work() -> None:   # touches no widget: it only emits the relay's signals
            try:
                folder = download(needed.name, progress=lambda done, total: relay.progress.emit(done, total),
                                  cancel=stop, timeout=timeout)
            except Exception as exc:  # noqa: BLE001 - shown to the user
                _emit(relay.failed, exc)
                return
            _emit(relay.done, folder)

        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.show()
        self.thread = threading.Thread(target=work, name="layerloom-download", daemon=True)
        self.thread.start()

    def reject(self) -> None:
        """Cancel (the button, Escape or closing the dialog): the dialog closes at once; the thread stops
        at its next chunk (or when the silent server times out), keeping the partial file."""
        self._stop.set()
        if not self._ended:
            self._ended = True
            self.cancelled.emit()
        super().reject()

    @property
    def working(self) -> bool:
        """The download thread has not ended yet (after a Cancel it may still be winding down)."""
        thread = getattr(self, "thread", None)
        return thread is not None and thread.is_alive()

    def _progress(self, done: int, total: int) -> None:
        if self._ended or not total:
            return
        self.bar.setValue(round(BAR_STEPS * done / total))
        self.bar.setFormat(f"{size_text(done)} of {size_text(total)}")

    def _end(self) -> None:
        self._ended = True
        self.thread.join(timeout=1.0)   # it has emitted its last signal: it ends now
        self.done(QDialog.DialogCode.Accepted)

    def _done(self, folder) -> None:
        if self._ended:
            return
        self._end()
        self.succeeded.emit(folder)

    def _failed(self, exc) -> None:
        if self._ended:
            return   # cancelled already: this is the thread winding down
        self._end()
        if isinstance(exc, DownloadCancelled):
            self.cancelled.emit()
        else:
            self.failed.emit(str(exc))


def _emit(signal, value) -> None:
    try:
        signal.emit(value)
    except RuntimeError:
        pass   # the application quit meanwhile


class DatasetGate(QObject):
    """Asks before a missing built-in dataset downloads and runs the download (one at a time).

    ``question``, ``dialog`` and ``message`` are the boxes on screen (tests press their buttons);
    ``report(text)`` is how the outcome is said besides (the window's status bar)."""

    def __init__(self, parent: QWidget, report: Callable[[str], None] | None = None,
                 timeout: float = DEFAULT_TIMEOUT_S):
        super().__init__(parent)
        self.window = parent
        self.report = report or (lambda text: None)
        self.timeout = timeout
        self.question: QMessageBox | None = None
        self.dialog: DownloadDialog | None = None
        self.message: QMessageBox | None = None
        self._last_thread: threading.Thread | None = None

    @property
    def busy(self) -> bool:
        """A question or a download is on screen, or a cancelled download's thread is still winding down."""
        winding_down = self._last_thread is not None and self._last_thread.is_alive()
        return self.question is not None or self.dialog is not None or winding_down

    def ensure(self, settings: dict | None, then: Callable[[], None],
               declined: Callable[[str], None] | None = None) -> bool:
        """True when the dataset ``settings`` name needs no download (the caller goes on now). Otherwise
        False: the user is asked, and ``then()`` runs once the files are on disk; ``declined(text)`` runs
        on No, Cancel or a failure, with what to tell the user."""
        needed = needed_for(settings)
        if needed is None:
            return True
        if self.busy:
            self.report(f"A download of {needed.title} is under way or still stopping; try again in a moment")
            return False
        box = QMessageBox(QMessageBox.Icon.Question, f"Download {needed.title}?", question_text(needed),
                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, self.window)
        box.setObjectName("downloadQuestion")
        box.setDefaultButton(QMessageBox.StandardButton.Yes)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(lambda result: self._answered(box, needed, then, declined))
        self.question = box
        box.open()
        return False

    def _answered(self, box: QMessageBox, needed: DownloadNeeded, then, declined) -> None:
        self.question = None
        if box.clickedButton() is not box.button(QMessageBox.StandardButton.Yes):
            self._declined(declined, f"{needed.title} was not downloaded; nothing changed. It is needed to "
                                     f"go on ({size_text(needed.size)}).")
            return
        dialog = DownloadDialog(self.window, needed, self.timeout)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.dialog = dialog

        def succeeded(folder) -> None:
            self.dialog = None
            self.report(f"{needed.title} is on disk: {folder}")
            then()

        def failed(text: str) -> None:
            self.dialog = None
            self._declined(declined, f"Cannot download {needed.title}.")
            self._show_failure(needed, text)

        def cancelled() -> None:
            self.dialog = None
            self._declined(declined, f"The download of {needed.title} was cancelled; what arrived is kept "
                                     "for the next try.")

        dialog.succeeded.connect(succeeded)
        dialog.failed.connect(failed)
        dialog.cancelled.connect(cancelled)
        dialog.start()
        self._last_thread = dialog.thread

    def _declined(self, declined, text: str) -> None:
        self.report(text)
        if declined is not None:
            declined(text)

    def _show_failure(self, needed: DownloadNeeded, text: str) -> None:
        box = QMessageBox(QMessageBox.Icon.Warning, f"Cannot download {needed.title}", text,
                          QMessageBox.StandardButton.Ok, self.window)
        box.setObjectName("downloadFailed")
        box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)   # URLs to copy
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(lambda _: setattr(self, "message", None))
        self.message = box
        box.open()
