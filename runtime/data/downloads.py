"""Datasets fetched from the internet, only when the user asks: the cache folder, the download, the checks.

A downloadable built-in (MNIST, CIFAR-10...) lists its files as ``RemoteFile`` records (URL, size,
SHA-256, and the MD5 its authors publish where known). Nothing here runs on its own: ``load_builtin``
raises ``DownloadNeeded`` when a file is missing, and the window or the CLI asks the user before calling
``download``. A download

- writes ``<file>.part`` beside the final name and continues it with an HTTP range request when a
  later try finds it (a server that ignores the range restarts it from the first byte);
- reports ``progress(bytes done, bytes in all)`` over the whole dataset, from the calling thread;
- stops between chunks when ``cancel()`` (or ``cancel.is_set()``) turns true: ``DownloadCancelled``,
  the ``.part`` file kept for the next try;
- gives up on a silent server after ``timeout`` seconds: ``DownloadFailed``, whose text names the URLs
  and the folder to drop the files into by hand (the same message as when there is no network);
- checks the SHA-256 (and the MD5 where published) of every file before it takes the final name:
  a file that differs is removed and refused.

The cache: ``$LAYERLOOM_DATA_DIR`` when set (tests use it), else the user's data folder
(``$XDG_DATA_HOME/layerloom`` or ``~/.local/share/layerloom`` on Linux, ``~/Library/Application
Support/LayerLoom`` on macOS, ``%LOCALAPPDATA%\\LayerLoom`` on Windows), with one folder per dataset under
``datasets/``. Files put there by hand are checked once (a ``<file>.sha256`` note records it).
"""

from __future__ import annotations

import hashlib
import http.client
import os
import socket
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from layerloom.core.paths import user_data_dir
from layerloom.data.base import DatasetError

if TYPE_CHECKING:
    from layerloom.data.builtins import BuiltinInfo

DATA_DIR_ENV = "LAYERLOOM_DATA_DIR"
DEFAULT_TIMEOUT_S = 30.0
CHUNK = 256 * 1024
PART = ".part"
VERIFIED = ".sha256"
USER_AGENT = "LayerLoom dataset download"

Progress = Callable[[int, int], None]
Cancel = Any   # None, a callable returning True to stop, or an object with is_set() (threading.Event)


@dataclass(frozen=True)
class RemoteFile:
    """One file of a downloadable dataset: where it comes from and what it must be."""

    name: str      # the file's name in the dataset's cache folder
    url: str
    size: int      # bytes
    sha256: str
    md5: str | None = None   # the checksum the dataset's authors publish, checked too where known


class DownloadNeeded(DatasetError):
    """A built-in dataset whose files are not on disk. ``name``, ``title``, ``files`` (the missing
    ``RemoteFile`` records), ``size`` (their bytes) and ``folder`` say what to fetch and where it goes;
    the text says how to get it (the CLI command, or by hand)."""

    def __init__(self, info: BuiltinInfo, files: Sequence[RemoteFile], folder: Path):
        self.name, self.title = info.name, info.short_title
        self.files, self.folder = tuple(files), Path(folder)
        self.size = sum(f.size for f in files)
        urls = "\n".join(f"  {f.url}" for f in files)
        super().__init__(
            f"{info.short_title} is not on disk ({size_text(self.size)} to download). Run `layerloom-cli download "
            f"{info.name}`, or choose it in the window's Training panel and confirm the download; or "
            f"download these files by hand into {self.folder}:\n{urls}", location="training.dataset.name")


class DownloadFailed(DatasetError):
    """A download that did not complete: no network, a server error, a timeout or a checksum mismatch."""


class DownloadCancelled(DatasetError):
    """The user stopped the download; the partial file is kept for the next try."""


def data_dir() -> Path:
    """LayerLoom's folder for downloaded data: ``$LAYERLOOM_DATA_DIR``, else the user's data folder."""
    configured = os.environ.get(DATA_DIR_ENV, "").strip()
    if configured:
        return Path(configured).expanduser()
    return user_data_dir(local=True)


def dataset_folder(name: str) -> Path:
    """Where the files of the downloadable built-in ``name`` are kept (and may be put by hand)."""
    return data_dir() / "datasets" / name


def size_text(size: int) -> str:
    """``11594722`` -> ``"11 MB"`` (mebibytes, as the datasets' own pages count them)."""
    mib = size / 1024**2
    if mib >= 10:
        return f"{mib:,.0f} MB"
    if mib >= 1:
        return f"{mib:.1f} MB"
    return f"{max(1, round(size / 1024))} KB"


def _info(dataset: str | BuiltinInfo) -> BuiltinInfo:
    from layerloom.data.builtins import BUILTINS, unknown_builtin

    if isinstance(dataset, str):
        if dataset not in BUILTINS:
            raise unknown_builtin(dataset)
        return BUILTINS[dataset]
    return dataset


def is_downloadable(dataset: str | BuiltinInfo) -> bool:
    """True for a built-in whose files come from the internet (False for unknown names)."""
    try:
        return bool(_info(dataset).files)
    except DatasetError:
        return False


def missing_files(dataset: str | BuiltinInfo) -> list[RemoteFile]:
    """The files of ``dataset`` not in its cache folder (a file of another size counts as missing)."""
    info = _info(dataset)
    folder = dataset_folder(info.name)
    return [f for f in info.files if not _has_size(folder / f.name, f.size)]


def on_disk(dataset: str | BuiltinInfo) -> bool:
    """Whether every file of ``dataset`` is in its cache folder (always true for sets that ship)."""
    return not missing_files(dataset)


def download_needed(dataset: str | BuiltinInfo) -> DownloadNeeded | None:
    """The ``DownloadNeeded`` that loading ``dataset`` would raise, or None when nothing is missing."""
    info = _info(dataset)
    missing = missing_files(info)
    return DownloadNeeded(info, missing, dataset_folder(info.name)) if missing else None


def require(dataset: str | BuiltinInfo) -> Path:
    """The cache folder of ``dataset`` with every file present and checked; raises ``DownloadNeeded``
    when files are missing, ``DatasetError`` when a file put there by hand is not the expected one."""
    info = _info(dataset)
    needed = download_needed(info)
    if needed is not None:
        raise needed
    folder = dataset_folder(info.name)
    for remote in info.files:
        _check_once(folder / remote.name, remote)
    return folder


def download(dataset: str | BuiltinInfo, progress: Progress | None = None, cancel: Cancel = None,
             timeout: float = DEFAULT_TIMEOUT_S) -> Path:
    """Fetch the missing files of ``dataset`` into its cache folder and return the folder.

    Files already there are kept. Raises ``DownloadFailed`` (no network, server error, timeout,
    checksum mismatch; the text names the URLs and the folder) or ``DownloadCancelled``.
    """
    info = _info(dataset)
    if not info.files:
        raise DatasetError(f"{info.short_title} ships with LayerLoom; there is nothing to download",
                           location="training.dataset.name")
    folder = dataset_folder(info.name)
    missing = missing_files(info)
    total = sum(f.size for f in info.files)
    done = total - sum(f.size for f in missing)
    report = progress or (lambda done, total: None)
    stop = _stopper(cancel)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadFailed(f"cannot create the folder: {exc.strerror or exc}", str(folder)) from None
    report(done, total)
    for remote in missing:
        _fetch(remote, folder / remote.name, lambda got, base=done: report(base + got, total), stop, timeout,
               info)
        done += remote.size
    report(total, total)
    return folder


def _fetch(remote: RemoteFile, target: Path, progress: Callable[[int], None], stop: Callable[[], bool],
           timeout: float, info: BuiltinInfo) -> None:
    """One file into ``target.part`` (continued when it exists), checked, then renamed to ``target``."""
    part = target.with_name(target.name + PART)
    have = part.stat().st_size if part.is_file() else 0
    if have > remote.size:
        part.unlink()
        have = 0
    if have < remote.size:
        try:
            _receive(remote, part, have, progress, stop, timeout)
        except DownloadCancelled:
            raise
        except urllib.error.HTTPError as exc:
            raise DownloadFailed(f"the server answered {exc.code} {exc.reason} for {remote.url}"
                                 + _by_hand(info, target.parent)) from None
        except (urllib.error.URLError, socket.timeout, TimeoutError, ConnectionError) as exc:
            raise DownloadFailed(_offline_text(exc, remote, info, target.parent)) from None
        except http.client.HTTPException as exc:
            raise DownloadFailed(f"the connection to {remote.url} broke ({type(exc).__name__}); what arrived is "
                                 "kept and the next try continues from there") from None
        except OSError as exc:
            raise DownloadFailed(f"cannot write {part}: {exc.strerror or exc}") from None
        if part.stat().st_size < remote.size:
            raise DownloadFailed(f"the server ended {remote.name} after {part.stat().st_size:,} of {remote.size:,} "
                                 "bytes; what arrived is kept and the next try continues from there")
    progress(remote.size)
    problem = _mismatch(part, remote)
    if problem:
        part.unlink(missing_ok=True)
        raise DownloadFailed(f"{remote.name} from {remote.url} is not the expected file ({problem}); it was "
                             "removed. Try again later, or download it by hand" + _by_hand(info, target.parent))
    os.replace(part, target)
    _remember_checked(target, remote)


def _receive(remote: RemoteFile, part: Path, have: int, progress: Callable[[int], None],
             stop: Callable[[], bool], timeout: float) -> None:
    request = urllib.request.Request(remote.url, headers={"User-Agent": USER_AGENT})
    if have:
        request.add_header("Range", f"bytes={have}-")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        resumed = have and response.status == 206
        mode = "ab" if resumed else "wb"
        got = have if resumed else 0
        progress(got)
        with open(part, mode) as out:
            while True:
                if stop():
                    raise DownloadCancelled(f"the download of {remote.name} was cancelled; what arrived is "
                                            "kept and the next try continues from there")
                chunk = response.read1(CHUNK)   # what has arrived (up to CHUNK): progress and Cancel stay live
                if not chunk:
                    break
                out.write(chunk)
                got += len(chunk)
                progress(min(got, remote.size))
                if got > remote.size:
                    break   # more than the file should hold: the checksum refuses it


def _stopper(cancel: Cancel) -> Callable[[], bool]:
    if cancel is None:
        return lambda: False
    if hasattr(cancel, "is_set"):
        return cancel.is_set
    return cancel


def _offline_text(exc: Exception, remote: RemoteFile, info: BuiltinInfo, folder: Path) -> str:
    reason = getattr(exc, "reason", exc)
    if isinstance(reason, (socket.timeout, TimeoutError)):
        why = "the server did not answer in time"
    elif isinstance(reason, socket.gaierror):
        why = "the server's name cannot be resolved (no network?)"
    elif isinstance(reason, ConnectionRefusedError):
        why = "the connection was refused"
    else:
        why = str(getattr(reason, "strerror", None) or reason)
    return f"cannot download {remote.name} from {remote.url}: {why}." + _by_hand(info, folder)


def _by_hand(info: BuiltinInfo, folder: Path) -> str:
    urls = "\n".join(f"  {f.url}" for f in info.files)
    return (f"\nOffline? Download these files of {info.short_title} by hand and put them, with these names, "
            f"into {folder}:\n{urls}")


def _has_size(path: Path, size: int) -> bool:
    try:
        return path.is_file() and path.stat().st_size == size
    except OSError:
        return False


def _digests(path: Path, md5: bool) -> tuple[str, str | None]:
    sha = hashlib.sha256()
    other = hashlib.md5(usedforsecurity=False) if md5 else None
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1024**2), b""):
            sha.update(block)
            if other is not None:
                other.update(block)
    return sha.hexdigest(), other.hexdigest() if other is not None else None


def _mismatch(path: Path, remote: RemoteFile) -> str:
    """Why ``path`` is not ``remote`` ("" when it is): size, then SHA-256, then MD5."""
    size = path.stat().st_size
    if size != remote.size:
        return f"{size:,} bytes instead of {remote.size:,}"
    sha, md5 = _digests(path, remote.md5 is not None)
    if sha != remote.sha256:
        return f"SHA-256 {sha}, expected {remote.sha256}"
    if remote.md5 is not None and md5 != remote.md5:
        return f"MD5 {md5}, expected {remote.md5}"
    return ""


def _remember_checked(path: Path, remote: RemoteFile) -> None:
    try:
        path.with_name(path.name + VERIFIED).write_text(f"{remote.sha256}  {path.name}\n")
    except OSError:
        pass   # a read-only cache: the file is checked again next time


def _check_once(path: Path, remote: RemoteFile) -> None:
    """A file in the cache is checked the first time it is used (downloads are checked as they land)."""
    note = path.with_name(path.name + VERIFIED)
    try:
        if note.read_text().split()[0] == remote.sha256 and note.stat().st_mtime >= path.stat().st_mtime:
            return
    except (OSError, IndexError):
        pass
    problem = _mismatch(path, remote)
    if problem:
        raise DatasetError(f"not the expected file ({problem}); delete it and download it again "
                           f"(`layerloom-cli download` fetches what is missing)", str(path))
    _remember_checked(path, remote)


def download_note(dataset: str | BuiltinInfo) -> str:
    """What ``layerloom-cli datasets`` adds to a line: "" for a set that ships, else whether it is on disk
    (``; on disk``) or how to get it (``; not on disk (11 MB): layerloom-cli download mnist``)."""
    info = _info(dataset)
    if not info.files:
        return ""
    missing = missing_files(info)
    if not missing:
        return "; on disk"
    return f"; not on disk ({size_text(sum(f.size for f in missing))}): layerloom-cli download {info.name}"
