"""The downloadable built-in datasets (MNIST, Fashion-MNIST, KMNIST, CIFAR-10), served by a loopback HTTP
server the test starts: tiny files in the real formats, their SHA-256 patched into the registry.

Download with progress, resume after a cancel, checksum refused, offline and silent servers, the cached
second load without network, the CLI's ``download`` and ``datasets``. Nothing touches the internet.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import http.server
import io
import re
import socket
import struct
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest

from layerloom.data import builtins
from layerloom.data.builtins import BUILTINS, load_builtin
from layerloom.data.downloads import (DATA_DIR_ENV, DownloadCancelled, DownloadFailed, DownloadNeeded, RemoteFile,
                                      dataset_folder, download, missing_files, on_disk)

RNG = np.random.default_rng(0)


# ---------------------------------------------------------------- tiny files in the real formats
def idx_images(images: np.ndarray) -> bytes:
    return gzip.compress(struct.pack(">IIII", 0x803, *images.shape) + images.astype(np.uint8).tobytes(), mtime=0)


def idx_labels(labels: np.ndarray) -> bytes:
    return gzip.compress(struct.pack(">II", 0x801, len(labels)) + labels.astype(np.uint8).tobytes(), mtime=0)


def tiny_mnist(train: int = 400, test: int = 20) -> dict[str, bytes]:
    """MNIST's four files; the training images are random pixels, so the gzip stays big enough
    (about 310 KB) to arrive in several chunks."""
    return {
        "train-images-idx3-ubyte.gz": idx_images(RNG.integers(0, 256, (train, 28, 28))),
        "train-labels-idx1-ubyte.gz": idx_labels(np.arange(train) % 10),
        "t10k-images-idx3-ubyte.gz": idx_images(RNG.integers(0, 256, (test, 28, 28))),
        "t10k-labels-idx1-ubyte.gz": idx_labels(np.arange(test) % 10),
    }


def tiny_cifar(per_batch: int = 3) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        names = [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]
        for k, name in enumerate(names):
            labels = (np.arange(per_batch) + k) % 10
            pixels = np.full((per_batch, 3072), k, dtype=np.uint8)
            pixels[:, 1024:2048] = 100   # the green plane
            records = np.concatenate([labels[:, None].astype(np.uint8), pixels], axis=1).tobytes()
            _add(archive, f"cifar-10-batches-bin/{name}", records)
        _add(archive, "cifar-10-batches-bin/batches.meta.txt",
             b"airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n")
    return out.getvalue()


def _add(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    member = tarfile.TarInfo(name)
    member.size = len(data)
    archive.addfile(member, io.BytesIO(data))


# ---------------------------------------------------------------- the loopback server
class Server:
    """``http.server`` on 127.0.0.1 in a thread, serving ``files`` with HTTP range support; ``seen``
    records each request's path and Range header; ``silent`` makes it accept and never answer; ``pace``
    ``(bytes, seconds)`` sends a file in pieces with a pause after each."""

    def __init__(self, files: dict[str, bytes]):
        self.files, self.seen, self.silent, self.pace = dict(files), [], False, None
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):   # noqa: N802 - the http.server name
                server.seen.append((self.path, self.headers.get("Range")))
                if server.silent:
                    threading.Event().wait(5)
                    return
                data = server.files.get(self.path.lstrip("/"))
                if data is None:
                    self.send_error(404)
                    return
                start = 0
                if self.headers.get("Range", "").startswith("bytes="):
                    start = int(self.headers["Range"][6:].split("-")[0])
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                try:
                    piece, pause = server.pace or (len(data), 0.0)
                    for at in range(start, len(data), piece):
                        self.wfile.write(data[at:at + piece])
                        self.wfile.flush()
                        if pause:
                            threading.Event().wait(pause)
                except (BrokenPipeError, ConnectionResetError):
                    pass   # the client cancelled

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def patch_registry(monkeypatch, name: str, files: dict[str, bytes], base_url: str) -> None:
    """The built-in ``name`` fetches ``files`` from ``base_url``, with their real sizes and SHA-256."""
    remote = tuple(RemoteFile(n, base_url + n, len(data), hashlib.sha256(data).hexdigest(),
                              hashlib.md5(data).hexdigest()) for n, data in files.items())
    monkeypatch.setitem(BUILTINS, name, dataclasses.replace(BUILTINS[name], files=remote))


@pytest.fixture(scope="module")
def mnist_files():
    return tiny_mnist()


@pytest.fixture(scope="module")
def server(mnist_files):
    served = Server({**mnist_files, "cifar-10-binary.tar.gz": tiny_cifar()})
    yield served
    served.close()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "data"))
    return tmp_path / "data"


@pytest.fixture
def mnist(monkeypatch, server, mnist_files, cache):
    server.seen.clear()
    server.silent, server.pace = False, None
    patch_registry(monkeypatch, "mnist", mnist_files, server.url)
    return server


def dead_url() -> str:
    """A loopback port nothing listens on: connecting is refused, as with no network."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


# ---------------------------------------------------------------- the registry
def test_the_known_sets_are_listed_with_their_files_sizes_and_checksums():
    for name in ("mnist", "fashion_mnist", "kmnist", "cifar10"):
        info = BUILTINS[name]
        assert info.files and info.num_classes == 10
        for remote in info.files:
            assert len(remote.sha256) == 64 and int(remote.sha256, 16) >= 0
            assert remote.md5 is not None and len(remote.md5) == 32
            assert remote.url.endswith("/" + remote.name) and remote.size > 0
    assert BUILTINS["mnist"].files[0].url == "https://ossci-datasets.s3.amazonaws.com/mnist/train-images-idx3-ubyte.gz"
    assert BUILTINS["cifar10"].files[0].url == "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
    assert BUILTINS["cifar10"].feature_shape == (3, 32, 32)
    assert not BUILTINS["digits"].files   # the sets that ship download nothing


def test_a_missing_set_raises_download_needed_with_what_to_fetch_and_how(cache):
    assert not on_disk("mnist") and len(missing_files("mnist")) == 4
    with pytest.raises(DownloadNeeded) as caught:
        load_builtin("mnist")
    needed = caught.value
    assert needed.name == "mnist" and needed.size == 9912422 + 28881 + 1648877 + 4542
    assert needed.folder == cache / "datasets" / "mnist" == dataset_folder("mnist")
    text = str(needed)
    assert "layerloom-cli download mnist" in text and "11 MB" in text and str(needed.folder) in text
    assert "https://ossci-datasets.s3.amazonaws.com/mnist/t10k-labels-idx1-ubyte.gz" in text
    assert not (cache / "datasets").exists()   # asking wrote nothing


# ---------------------------------------------------------------- downloading
def test_download_reports_progress_checks_and_then_loads_offline(mnist, mnist_files, monkeypatch):
    seen = []
    folder = download("mnist", progress=lambda done, total: seen.append((done, total)))
    total = sum(len(d) for d in mnist_files.values())
    assert seen[0] == (0, total) and seen[-1] == (total, total)
    assert all(b[0] >= a[0] for a, b in zip(seen, seen[1:]))   # never goes back
    for name, data in mnist_files.items():
        assert (folder / name).read_bytes() == data
    assert not list(folder.glob("*.part")) and on_disk("mnist")
    # later runs read the cache: with the server gone, the set still loads
    patch_registry(monkeypatch, "mnist", mnist_files, dead_url())
    raw = load_builtin("mnist")
    assert raw.x["train"].shape == (400, 1, 28, 28) and raw.x["test"].shape == (20, 1, 28, 28)
    assert raw.classes == tuple(str(d) for d in range(10)) and raw.task_hint == "classification"
    assert raw.y["train"][:3].tolist() == [0, 1, 2] and "400 train, 20 test" in raw.source
    count = len(mnist.seen)
    download("mnist")   # nothing missing: nothing fetched
    assert len(mnist.seen) == count


def test_the_settings_load_it_split_with_its_own_test_set(mnist):
    from layerloom.data import load_dataset

    download("mnist")
    dataset = load_dataset({"name": "mnist", "val_split": 0.25})
    assert dataset.feature_shape == (1, 28, 28) and dataset.image and dataset.value_range == (0.0, 255.0)
    assert (dataset.num_train, dataset.num_val, dataset.num_test) == (300, 100, 20)


def test_a_cancelled_download_keeps_its_part_and_the_next_try_continues_it(mnist, mnist_files):
    stop = threading.Event()

    def progress(done, total):
        if done > 0:
            stop.set()   # some bytes arrived: the user presses Cancel

    with pytest.raises(DownloadCancelled):
        download("mnist", progress=progress, cancel=stop)
    folder = dataset_folder("mnist")
    part = folder / "train-images-idx3-ubyte.gz.part"
    assert 0 < part.stat().st_size < len(mnist_files["train-images-idx3-ubyte.gz"])
    assert not (folder / "train-images-idx3-ubyte.gz").exists()
    arrived = part.stat().st_size
    download("mnist")
    ranges = [r for path, r in mnist.seen if path.endswith("train-images-idx3-ubyte.gz")]
    assert ranges == [None, f"bytes={arrived}-"]   # the second request asked only for the rest
    assert (folder / "train-images-idx3-ubyte.gz").read_bytes() == mnist_files["train-images-idx3-ubyte.gz"]
    assert not part.exists()


def test_a_connection_that_ends_early_keeps_what_arrived_for_the_next_try(mnist, mnist_files):
    name = "train-images-idx3-ubyte.gz"
    whole = mnist.files[name]
    mnist.files[name] = whole[:100_000]   # the server sends less than the file holds, and says so
    try:
        with pytest.raises(DownloadFailed, match="next try continues"):
            download("mnist")
    finally:
        mnist.files[name] = whole
    assert (dataset_folder("mnist") / (name + ".part")).stat().st_size == 100_000
    download("mnist")
    assert mnist.seen[-4][1] == "bytes=100000-" and (dataset_folder("mnist") / name).read_bytes() == whole


def test_a_file_that_fails_its_checksum_is_removed_and_refused(mnist, mnist_files, monkeypatch):
    info = BUILTINS["mnist"]
    bad = dataclasses.replace(info.files[1], sha256="0" * 64)
    monkeypatch.setitem(BUILTINS, "mnist", dataclasses.replace(info, files=(info.files[0], bad, *info.files[2:])))
    with pytest.raises(DownloadFailed) as caught:
        download("mnist")
    text = str(caught.value)
    assert "train-labels-idx1-ubyte.gz" in text and "not the expected file" in text and "SHA-256" in text
    folder = dataset_folder("mnist")
    assert not (folder / "train-labels-idx1-ubyte.gz").exists() and not list(folder.glob("*labels*.part"))
    assert (folder / "train-images-idx3-ubyte.gz").exists()   # the good file before it is kept


def test_offline_the_message_names_the_urls_and_the_folder(cache, mnist_files, monkeypatch):
    url = dead_url()
    patch_registry(monkeypatch, "mnist", mnist_files, url)
    with pytest.raises(DownloadFailed) as caught:
        download("mnist", timeout=5)
    text = str(caught.value)
    assert "refused" in text and str(dataset_folder("mnist")) in text
    for name in mnist_files:
        assert url + name in text


def test_a_silent_server_times_out(mnist):
    mnist.silent = True
    with pytest.raises(DownloadFailed) as caught:
        download("mnist", timeout=0.3)
    assert "did not answer in time" in str(caught.value) and str(dataset_folder("mnist")) in str(caught.value)


def test_a_file_put_there_by_hand_is_checked_once(mnist, mnist_files):
    folder = dataset_folder("mnist")
    folder.mkdir(parents=True)
    for name, data in mnist_files.items():
        (folder / name).write_bytes(data)
    assert load_builtin("mnist").x["train"].shape[0] == 400
    assert (folder / "train-images-idx3-ubyte.gz.sha256").exists()
    wrong = bytearray(mnist_files["t10k-labels-idx1-ubyte.gz"])
    wrong[-9] ^= 1   # same size, different bytes, dropped in later
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(bytes(wrong))
    (folder / "t10k-labels-idx1-ubyte.gz.sha256").unlink()
    with pytest.raises(builtins.DatasetError, match="not the expected file"):
        load_builtin("mnist")
    assert mnist.seen == []   # none of this used the network


def test_cifar10_binary_is_read_from_its_archive_without_pickle(server, cache, monkeypatch):
    files = {"cifar-10-binary.tar.gz": server.files["cifar-10-binary.tar.gz"]}
    patch_registry(monkeypatch, "cifar10", files, server.url)
    with pytest.raises(DownloadNeeded):
        load_builtin("cifar10")
    download("cifar10")
    raw = load_builtin("cifar10")
    assert raw.x["train"].shape == (15, 3, 32, 32) and raw.x["test"].shape == (3, 3, 32, 32)
    assert raw.classes[0] == "airplane" and raw.classes[-1] == "truck"
    assert raw.y["train"][:4].tolist() == [0, 1, 2, 1]   # batch 1 labels 0,1,2; batch 2 starts at 1
    assert raw.x["train"][3, 0, 0, 0] == 1 and raw.x["train"][3, 1, 5, 5] == 100   # red = batch index, green
    assert raw.x["test"][0, 2, 31, 31] == 5


# ---------------------------------------------------------------- the command line
def cli(capsys, *argv):
    from layerloom.cli.main import main

    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_download_then_datasets_says_it_is_on_disk(mnist, capsys):
    code, out, err = cli(capsys, "datasets")
    mnist_line = next(line for line in out.splitlines() if line.split()[0] == "mnist")
    assert code == 0 and re.search(r"; not on disk \(\d+ KB\): layerloom-cli download mnist$", mnist_line)
    code, out, err = cli(capsys, "download", "mnist", "--quiet")
    assert code == 0, err
    assert "downloading MNIST handwritten digits" in out and "127.0.0.1" in out
    assert f"on disk: {dataset_folder('mnist')}" in out and on_disk("mnist")
    code, out, err = cli(capsys, "datasets")
    assert next(line for line in out.splitlines() if line.split()[0] == "mnist").endswith("; on disk")
    code, out, err = cli(capsys, "download", "mnist")
    assert code == 0 and "already on disk" in out and len(mnist.seen) == 4


def test_cli_download_offline_exits_1_naming_urls_and_folder(cache, mnist_files, monkeypatch, capsys):
    patch_registry(monkeypatch, "mnist", mnist_files, dead_url())
    code, out, err = cli(capsys, "download", "mnist", "--quiet", "--timeout", "5")
    assert code == 1 and "refused" in err and str(dataset_folder("mnist")) in err


def test_cli_train_on_a_missing_set_says_how_to_download_it(cache, capsys):
    from layerloom.files.resources import example_path

    code, out, err = cli(capsys, "train", str(example_path("mnist_mlp")), "--no-save", "--quiet")
    assert code == 1
    assert "MNIST handwritten digits is not on disk (11 MB to download)" in err
    assert "layerloom-cli download mnist" in err and str(cache / "datasets" / "mnist") in err
    assert not (cache / "datasets").exists()   # training never downloads by itself
