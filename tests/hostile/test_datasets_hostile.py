"""Hostile dataset files (issue 15, items 8, 9 and 11): pipes, devices and sockets given as datasets,
decompression bombs and forged headers, damaged archives and text, values that are not finite in the
float32 training uses; and a fuzzer over small CSV, NPZ and IDX files. Whatever the file, the loaders
raise only ``DatasetError``, naming the file and the place in it, and never allocate more than the data
limit (``LAYERLOOM_DATA_LIMIT_MB``)."""

from __future__ import annotations

import gzip
import io
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image

from layerloom.data import DatasetError, load_dataset
from layerloom.data.guard import LIMIT_ENV, data_limit

ROOT = Path(__file__).resolve().parents[2]
HANG_GUARD_S = 30  # a loader still blocked after this long is hung (the fixed ones return at once)


def _load(path: Path, **values):
    return load_dataset(dict({"path": str(path), "val_split": 0.0}, **values))


def _error(path: Path, **values) -> DatasetError:
    with pytest.raises(DatasetError) as info:
        _load(path, **values)
    return info.value


def _idx_images(images: np.ndarray) -> bytes:
    return struct.pack(">IIII", 0x803, *images.shape) + images.astype(np.uint8).tobytes()


def _idx_labels(labels: np.ndarray) -> bytes:
    return struct.pack(">II", 0x801, len(labels)) + labels.astype(np.uint8).tobytes()


IDX_X = np.arange(6 * 4 * 4).reshape(6, 4, 4) % 256
IDX_Y = np.array([0, 1, 2, 0, 1, 2])
TABLE = "age,height,kind\n31,1.8,cat\n25,1.6,dog\n40,1.7,cat\n33,1.9,bird\n28,1.5,dog\n"


@pytest.fixture
def short_dir():
    """A folder with a short path (a Unix socket's path is limited to about 100 bytes)."""
    with tempfile.TemporaryDirectory(dir="/tmp") as folder:
        yield Path(folder)


def _load_unhung(path: Path, fifo: Path | None = None, **values):
    """``_load`` in a thread; if it is still blocked after HANG_GUARD_S, unblock the FIFO and fail."""
    outcome = {}

    def run():
        try:
            outcome["value"] = _load(path, **values)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(HANG_GUARD_S)
    if thread.is_alive():
        if fifo is not None:  # a writer that closes at once gives the blocked reader its end of file
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail(f"loading {path.name} blocked")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


# --- item 8: files that are not regular files ---------------------------------------------------

@pytest.mark.parametrize("name, values", [
    ("data.csv", {}), ("data.npz", {}), ("data.bin", {"format": "csv"}),
    ("train-images-idx3-ubyte", {}), ("train-labels-idx1-ubyte", {}),
])
def test_a_fifo_is_refused_without_blocking(tmp_path, name, values):
    fifo = tmp_path / name
    os.mkfifo(fifo)
    for partner in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"):
        if partner != name and name.startswith("train-"):
            (tmp_path / partner).write_bytes(_idx_labels(IDX_Y) if "labels" in partner else _idx_images(IDX_X))
    with pytest.raises(DatasetError) as info:
        _load_unhung(fifo, fifo, **values)
    assert info.value.path == str(fifo) and "is a named pipe, not a regular file" in info.value.detail


def test_devices_sockets_and_odd_entries_are_refused_or_skipped(tmp_path, short_dir):
    zero = tmp_path / "zero.csv"
    zero.symlink_to("/dev/zero")
    err = _error(zero)
    assert err.path == str(zero) and "is a device, not a regular file" in err.detail
    npz = tmp_path / "zero.npz"
    npz.symlink_to("/dev/zero")
    assert "is a device, not a regular file" in _error(npz).detail
    sock_path = short_dir / "s.csv"
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(sock_path))
        err = _error(sock_path)
        assert err.path == str(sock_path) and "is a socket, not a regular file" in err.detail
        assert "is a socket, not a regular file" in _error(sock_path, format="npz").detail
    finally:
        server.close()
    # a folder where a loader expects a file
    from layerloom.data.csvfile import load_csv
    from layerloom.data.idx import IMAGES_MAGIC, read_idx
    from layerloom.data.npzfile import load_npz

    for read in (load_csv, load_npz, lambda path: read_idx(path, IMAGES_MAGIC)):
        with pytest.raises(DatasetError) as info:
            read(short_dir)
        assert info.value.path == str(short_dir) and "is a folder, not a regular file" in info.value.detail
    # image folders skip entries that are not regular files, as they skip other non-images
    for c, name in enumerate(["cat", "dog"]):
        (tmp_path / "pets" / name).mkdir(parents=True)
        Image.new("L", (4, 4), 40 * c).save(tmp_path / "pets" / name / "a.png")
    os.mkfifo(tmp_path / "pets" / "cat" / "b.png")
    (tmp_path / "pets" / "dog" / "c.png").symlink_to("/dev/zero")
    ds = _load_unhung(tmp_path / "pets", tmp_path / "pets" / "cat" / "b.png")
    assert ds.num_train == 2 and ds.classes == ("cat", "dog")


# --- item 9: decompression bombs and forged headers ------------------------------------------

def _npy_header(shape, dtype="<f8") -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buffer.getvalue()


def _zip(path: Path, members: dict[str, bytes], compression=zipfile.ZIP_STORED) -> Path:
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def test_npz_forged_header_is_refused_before_allocating(tmp_path):
    huge = (10**6, 10**6)  # 7.3 TiB of float64 declared by a file of a few hundred bytes
    path = _zip(tmp_path / "bomb.npz", {"x.npy": _npy_header(huge) + bytes(64),
                                        "y.npy": _npy_header((10**6,), "<i8")})
    err = _error(path)
    assert err.path == str(path) and err.location == "array 'x'"
    assert err.detail == ("truncated: its header declares float64 [1,000,000, 1,000,000] (8,000,000,000,000 "
                          "bytes) but the archive holds 64")


def test_npz_compressed_bomb_respects_the_limit_the_user_sets(tmp_path, monkeypatch):
    path = tmp_path / "zeros.npz"
    np.savez_compressed(path, x=np.zeros((4096, 1024), np.float32), y=np.zeros(4096, np.int64))  # 16 MiB
    assert path.stat().st_size < 100_000
    monkeypatch.setenv(LIMIT_ENV, "8")
    err = _error(path)
    assert "data limit of 8.0 MiB" in err.detail and f"{LIMIT_ENV}=17 " in err.detail
    monkeypatch.setenv(LIMIT_ENV, "17")  # raised as the message says: it loads
    assert _load(path).num_train == 4096


def test_npz_damaged_members_are_named(tmp_path):
    good = io.BytesIO()
    np.save(good, np.arange(40.0).reshape(10, 4))
    y = io.BytesIO()
    np.save(y, np.arange(10) % 2)
    truncated = _zip(tmp_path / "short.npz", {"x.npy": good.getvalue()[:-40], "y.npy": y.getvalue()})
    err = _error(truncated)
    assert err.location == "array 'x'" and "truncated" in err.detail and "float64 [10, 4] (320 bytes)" in err.detail
    # a flipped byte inside the deflated data
    path = tmp_path / "flipped.npz"
    np.savez_compressed(path, x=np.random.default_rng(0).random((200, 8)), y=np.arange(200) % 2)
    data = bytearray(path.read_bytes())
    data[300] ^= 0xFF
    path.write_bytes(bytes(data))
    err = _error(path)
    assert err.path == str(path) and "corrupt" in err.detail and err.location == "array 'x'"
    # arrays of Python objects stay refused, never unpickled
    objects = tmp_path / "objects.npz"
    np.savez(objects, x=np.zeros((3, 2)), y=np.array([{"a": 1}, None, "b"], dtype=object))
    err = _error(objects)
    assert err.location == "array 'y'" and "Python objects" in err.detail


def _gzip_bomb(path: Path, dims: tuple[int, int, int], members: int) -> Path:
    """An IDX images file whose header declares ``dims``, as gzip members of 16 MiB of zeros each."""
    zeros = gzip.compress(bytes(16 * 1024**2), compresslevel=9)
    with open(path, "wb") as file:
        file.write(gzip.compress(struct.pack(">IIII", 0x803, *dims)))
        for _ in range(members):
            file.write(zeros)
    return path


def _zip_bomb(path: Path, dims: tuple[int, ...], blocks: int) -> Path:
    """An NPZ whose 'x' declares (and holds) ``dims`` of uint8 zeros, deflated: one 16 MiB block of
    zeros compressed once and repeated (a full flush makes each block independent)."""
    header = _npy_header(dims, "|u1")
    zeros = bytes(16 * 1024**2)
    assert len(header) + blocks * len(zeros) - len(header) == np.prod(dims)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = compressor.compress(header) + compressor.flush(zlib.Z_FULL_FLUSH)
    block = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    data = first + block * blocks + compressor.flush()
    crc = zlib.crc32(header)
    for _ in range(blocks):
        crc = zlib.crc32(zeros, crc)
    y = _npy_header((dims[0],), "|u1") + bytes(dims[0])
    members = [(b"x.npy", 8, crc, len(header) + blocks * len(zeros), data),
               (b"y.npy", 0, zlib.crc32(y), len(y), y)]
    with open(path, "wb") as file:
        central = b""
        for name, method, crc, size, stored in members:
            offset = file.tell()
            file.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0, crc, len(stored), size,
                                   len(name), 0) + name + stored)
            central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, 0, crc, len(stored),
                                   size, len(name), 0, 0, 0, 0, 0, offset) + name
        start = file.tell()
        file.write(central + struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 2, 2, len(central), start, 0))
    return path


BOMB_SCRIPT = """
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (3 * 1024**3, 3 * 1024**3))  # the old loaders fail, not the machine
from layerloom.data import DatasetError, load_dataset
with open("/proc/self/clear_refs", "w") as file:  # peak memory from here (not the parent's, kept by exec)
    file.write("5")
try:
    load_dataset({"path": sys.argv[1], "val_split": 0.0})
    outcome = "loaded"
except DatasetError as exc:
    outcome = "DatasetError: " + str(exc)
except BaseException as exc:
    outcome = type(exc).__name__ + ": " + str(exc)
peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"outcome": outcome, "peak_mib": peak / 1024}))
"""


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="measures peak memory through Linux's /proc")
@pytest.mark.parametrize("kind", ["idx", "npz"])
def test_bombs_are_refused_in_little_memory(tmp_path, kind):
    """About 1 MiB of file that declares (and holds) 1 GiB of 8-bit pixels: 5 GiB once loaded as float32,
    above the default limit; refused from the header, in a process whose memory stays small."""
    dims = (16384, 256, 256)
    if kind == "idx":
        path = _gzip_bomb(tmp_path / "train-images-idx3-ubyte.gz", dims, 64)
        (tmp_path / "train-labels-idx1-ubyte").write_bytes(_idx_labels(np.zeros(16384)))
        declared = "16384 images of 256x256"
    else:
        path = _zip_bomb(tmp_path / "bomb.npz", dims, 64)
        declared = "'x' uint8 [16,384, 256, 256]"
    assert path.stat().st_size < 2 * 1024**2
    env = {k: v for k, v in os.environ.items() if k != LIMIT_ENV}
    run = subprocess.run([sys.executable, "-c", BOMB_SCRIPT, str(path)], capture_output=True, text=True,
                         cwd=ROOT, env=dict(env, PYTHONPATH=str(ROOT)), timeout=300)
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["outcome"].startswith("DatasetError: " + str(path)), report
    assert declared in report["outcome"] and "data limit" in report["outcome"], report
    assert report["peak_mib"] < 200, report  # the import alone is ~30 MiB; the data is never allocated


def test_idx_header_that_disagrees_with_the_data(tmp_path):
    labels = tmp_path / "train-labels-idx1-ubyte"
    labels.write_bytes(_idx_labels(IDX_Y))
    images = tmp_path / "train-images-idx3-ubyte"
    images.write_bytes(_idx_images(IDX_X) + b"extra")
    err = _error(images)
    assert err.path == str(images) and "holds 101" in err.detail and "does not match" in err.detail
    images.unlink()
    gz = tmp_path / "train-images-idx3-ubyte.gz"
    gz.write_bytes(gzip.compress(_idx_images(IDX_X) + b"extra"))
    assert "does not match" in _error(gz).detail
    gz.write_bytes(gzip.compress(_idx_images(IDX_X))[:-12])  # cut short
    err = _error(gz)
    assert err.path == str(gz) and "gzip data is truncated or corrupt" in err.detail
    data = bytearray(gzip.compress(_idx_images(np.random.default_rng(1).integers(0, 255, (6, 4, 4)))))
    data[20] ^= 0xFF
    gz.write_bytes(bytes(data))
    assert "truncated or corrupt" in _error(gz).detail
    # a forged header, gzipped (so the file's length says nothing): refused by the limit before reading
    gz.write_bytes(gzip.compress(struct.pack(">IIII", 0x803, 60000, 10000, 10000)))
    err = _error(gz)
    assert "the header declares 60000 images of 10000x10000: 27.3 TiB in memory" in err.detail


def _forged_png(path: Path, width: int, height: int) -> Path:
    buffer = io.BytesIO()
    Image.new("L", (1, 1)).save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    path.write_bytes(bytes(data))
    return path


def test_image_bombs_are_named(tmp_path, monkeypatch):
    for c, name in enumerate(["cat", "dog"]):
        (tmp_path / "pets" / name).mkdir(parents=True)
        Image.new("L", (4, 4), 40 * c).save(tmp_path / "pets" / name / "a.png")
    bomb = _forged_png(tmp_path / "pets" / "cat" / "0.png", 100_000, 100_000)
    err = _error(tmp_path / "pets")
    assert err.path == str(bomb) and "decompression bomb" in err.detail
    assert _error(tmp_path / "pets", image_size=[4, 4]).path == str(bomb)
    # below Pillow's own ceiling, the data limit decides, from the header, before decoding
    _forged_png(bomb, 6000, 5000)
    monkeypatch.setenv(LIMIT_ENV, "64")
    err = _error(tmp_path / "pets", image_size=[4, 4])
    assert err.path == str(bomb) and "the image declares 6,000x5,000 pixels" in err.detail
    assert "data limit of 64.0 MiB" in err.detail


# --- damaged text ------------------------------------------------------------------------------

def test_csv_damage_is_named_with_its_line(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("a,b\n" + "1" * (10 * 1024**2) + ",2\n")  # a 10 MB line
    err = _error(path)
    assert err.path == str(path) and err.location == "line 2" and "longer than 131,072 characters" in err.detail
    path.write_bytes(b"a,b,c\n1,2,x\n3,\xe94,y\n")
    err = _error(path)
    assert err.location == "line 3" and "not UTF-8" in err.detail and "0xe9" in err.detail
    path.write_bytes(b"a,b,c\n" + b"1,2,%s\n" % (b"x" * 60) * 20_000 + b"3,\xe94,y\n")  # past the first MiB
    assert _error(path).location == "line 20002"
    path.write_bytes(TABLE.encode("utf-16"))
    assert "UTF-16" in _error(path).detail
    path.write_bytes(b"\xef\xbb\xbf" + TABLE.encode())  # a UTF-8 byte order mark is fine
    assert _load(path, target_column="kind").classes == ("bird", "cat", "dog")
    path.write_text(TABLE.replace("25,1.6", "abc,1.6").replace("40,1.7,cat", "40,1.7"))
    assert _error(path).location == "line 3, column 'age'"  # the first problem in the file
    path.write_text(TABLE.replace("40,1.7,cat", "40,1.7,cat,extra"))
    err = _error(path)
    assert err.location == "line 4" and err.detail == "4 cells, but the header has 3"


def test_csv_larger_than_the_limit_is_refused_as_it_is_read(tmp_path, monkeypatch):
    path = tmp_path / "wide.csv"
    path.write_text("".join(f"{i},{i + 1},{i + 2},{i % 3}\n" for i in range(20_000)))
    monkeypatch.setenv(LIMIT_ENV, "1")
    err = _error(path)
    assert err.path == str(path) and "rows of 3 features" in err.detail and "data limit of 1.0 MiB" in err.detail
    monkeypatch.setenv(LIMIT_ENV, "4")
    assert _load(path).num_train == 20_000


def test_the_limit_setting_is_checked(tmp_path, monkeypatch):
    path = tmp_path / "data.csv"
    path.write_text(TABLE)
    for bad in ("lots", "-5", "0", "nan"):
        monkeypatch.setenv(LIMIT_ENV, bad)
        err = _error(path)
        assert err.location == LIMIT_ENV and "megabytes" in err.detail
    monkeypatch.delenv(LIMIT_ENV)
    assert 0 < data_limit() <= 4 * 1024**3


# --- item 11: values that are not finite as float32 -------------------------------------------

def test_csv_values_beyond_float32_are_named(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text(TABLE.replace("40,1.7", "40,1e308"))
    err = _error(path)
    assert err.location == "line 4, column 'height'" and "'1e308' is beyond the range" in err.detail
    path.write_text("a,b\n" + "".join(f"{i},{i * 0.5 + 0.25}\n" for i in range(8)) + "9,-1e39\n")
    err = _error(path)  # a regression target
    assert err.location == "line 10" and "target column 'b' is -1e+39, beyond the range" in err.detail
    for cell in ("inf", "NaN", ""):
        path.write_text(TABLE.replace("33,1.9", f"33,{cell}"))
        assert _error(path).location == "line 5, column 'height'"


def test_npz_values_that_are_not_finite_name_the_array_and_index(tmp_path):
    x = np.arange(12.0).reshape(4, 3)
    x[2, 1] = 1e300
    np.savez(tmp_path / "big.npz", x=x, y=np.arange(4) % 2)
    err = _error(tmp_path / "big.npz")
    assert err.location == "array 'x'" and err.detail.startswith("x[2, 1] is 1e+300, beyond the range")
    x[2, 1], x[3, 0] = 0.0, np.nan
    np.savez(tmp_path / "nan.npz", x=x[:, None], y=np.arange(4) % 2, x_val=x[:2], y_val=np.arange(2))
    assert _error(tmp_path / "nan.npz").detail.startswith("x[3, 0, 0] is NaN")
    np.savez(tmp_path / "val.npz", x=x[:3], y=np.arange(3) % 2, x_val=np.full((1, 3), np.inf), y_val=[0])
    err = _error(tmp_path / "val.npz")
    assert err.location == "array 'x_val'" and err.detail == "x_val[0, 0] is infinite"
    np.savez(tmp_path / "y.npz", x=x[:3], y=np.array([0.5, 2.5, 1e200]))
    err = _error(tmp_path / "y.npz", task="regression")
    assert err.location == "sample 2" and "y is 1e+200, beyond the range" in err.detail


# --- the fuzzer ------------------------------------------------------------------------------

def _valid_files() -> dict[str, dict[str, bytes]]:
    """Small valid files of each format: name -> (file name -> bytes) written side by side."""
    npz = io.BytesIO()
    np.savez(npz, x=np.arange(24.0).reshape(6, 4), y=np.arange(6) % 2)
    compressed = io.BytesIO()
    np.savez_compressed(compressed, x=IDX_X.astype(np.uint8), y=IDX_Y, x_val=IDX_X[:2].astype(np.uint8),
                        y_val=IDX_Y[:2])
    return {
        "csv": {"data.csv": TABLE.encode()},
        "tsv": {"data.csv": b"\xef\xbb\xbf" + TABLE.replace(",", "\t").encode()},
        "npz": {"data.npz": npz.getvalue()},
        "npz-compressed": {"data.npz": compressed.getvalue()},
        "idx": {"train-images-idx3-ubyte": _idx_images(IDX_X), "train-labels-idx1-ubyte": _idx_labels(IDX_Y)},
        "idx-gz": {"train-images-idx3-ubyte": gzip.compress(_idx_images(IDX_X)),
                   "train-labels-idx1-ubyte": gzip.compress(_idx_labels(IDX_Y))},
    }


VALID = _valid_files()
MUTATIONS = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10**6), st.integers(1, 255)),
    st.tuples(st.just("cut"), st.integers(0, 10**6), st.just(0)),
    st.tuples(st.just("insert"), st.integers(0, 10**6), st.binary(min_size=1, max_size=16)),
    st.tuples(st.just("replace"), st.integers(0, 10**6), st.binary(min_size=1, max_size=8)),
)


def _mutate(data: bytes, mutations) -> bytes:
    data = bytearray(data)
    for kind, at, arg in mutations:
        at = at % (len(data) + 1)
        if kind == "flip" and at < len(data):
            data[at] ^= arg
        elif kind == "cut":
            del data[at:]
        elif kind == "insert":
            data[at:at] = arg
        elif kind == "replace":
            data[at:at + len(arg)] = arg
    return bytes(data)


@settings(max_examples=200, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(base=st.sampled_from(sorted(VALID)), target=st.integers(0, 1), random=st.none() | st.binary(max_size=200),
       mutations=st.lists(MUTATIONS, min_size=1, max_size=4))
@example(base="npz-compressed", target=0, random=None, mutations=[("flip", 188147, 4)])  # zlib.error
@example(base="npz", target=0, random=None, mutations=[("replace", 40, b"(99999999999, 9")])
@example(base="npz", target=0, random=None, mutations=[("replace", 93540, b"\x00")])  # a member with no name
@example(base="idx-gz", target=0, random=None, mutations=[("cut", 40, 0)])
@example(base="csv", target=0, random=None, mutations=[("replace", 20, b"1e308")])
@example(base="csv", target=0, random=None, mutations=[("replace", 20, b"\xff\xfe")])
def test_fuzzed_files_raise_only_dataset_errors(base, target, random, mutations):
    files = VALID[base]
    names = sorted(files)
    victim = names[target % len(names)]
    with tempfile.TemporaryDirectory() as folder:
        for name, data in files.items():
            if name == victim:
                data = random if random is not None else _mutate(data, mutations)
            (Path(folder) / name).write_bytes(data)
        previous = os.environ.get(LIMIT_ENV)
        os.environ[LIMIT_ENV] = "64"  # forged sizes meet the limit, not the machine's memory
        try:
            _load(Path(folder) / names[0])
        except DatasetError as exc:
            assert exc.path and folder in exc.path, exc  # every refusal names a file
        finally:
            if previous is None:
                del os.environ[LIMIT_ENV]
            else:
                os.environ[LIMIT_ENV] = previous
