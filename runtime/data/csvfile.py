"""CSV tables: one sample per row, numeric feature columns and one target column (numbers or text).

Every column but the target feeds the graph's Input; with the ``inputs`` setting (``layerloom.data.columns``)
each Input gets its own group of columns instead, and columns in no group are left out. For a graph with
several Targets, a column named after a further Target (and in no group) feeds that Target.
"""

from __future__ import annotations

import codecs
import dataclasses
import csv
import io
import itertools
import math
from array import array
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np

from layerloom.data.assemble import RawData
from layerloom.data.base import CLASSIFICATION, REGRESSION, DataLayout, DatasetError, NamedArrays
from layerloom.data.columns import group_columns
from layerloom.data.guard import FLOAT32_MAX, check_size, data_limit, open_regular

DELIMITERS = (",", ";", "\t")
SNIFF_ROWS = 20
MAX_AUTO_CLASSES = 20  # integer targets with at most this many distinct values are classes (task auto)
BLOCK_ROWS = 4096  # rows converted to float32 at a time
OTHER_ENCODINGS = ((codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"),
                   (codecs.BOM_UTF16_LE, "UTF-16"), (codecs.BOM_UTF16_BE, "UTF-16"))


def load_csv(path: Path, target_column: str | None = None, header: str = "auto",
             inputs: dict | None = None, layout: DataLayout | None = None) -> RawData:
    """Read a CSV file; the target is the last column unless ``target_column`` names or indexes one;
    ``inputs`` maps each Input to its column group (see ``layerloom.data.columns``).

    Rows are read one at a time and their features converted to float32 in blocks, so the file's text
    is never held whole; the table's size is checked against the data limit as it grows.
    """
    where = str(path)
    with open_regular(path) as binary:
        _refuse_other_encodings(binary.read(4), where)
        binary.seek(0)
        try:
            with io.TextIOWrapper(binary, encoding="utf-8-sig", newline="") as file:
                return _parse(file, path, target_column, header, inputs, layout)
        except UnicodeDecodeError:
            raise _decode_error(path) from None


def _parse(file, path: Path, target_column: str | None, header: str, inputs: dict | None = None,
           layout: DataLayout | None = None) -> RawData:
    where = str(path)
    sample = file.read(64 * 1024)
    file.seek(0)
    reader = csv.reader(file, delimiter=_sniff(sample))
    rows = _rows(reader, where)
    first = next(rows, None)
    if first is None:
        raise DatasetError("the file is empty", where)
    second = next(rows, None)
    head = [first[0]] if second is None else [first[0], second[0]]
    has_header = _has_header(head) if header == "auto" else header == "yes"
    names = [cell.strip() for cell in first[0]] if has_header else None
    data = ([] if has_header else [first]) + ([] if second is None else [second])
    if not data:
        raise DatasetError("the file has a header row but no data rows", where)
    width = len(names) if names else len(data[0][0])
    if width < 2:
        raise DatasetError("only one column: a CSV needs at least one feature column and a target column", where)
    target = _target_index(target_column, names, width, where)
    groups = _groups(inputs, names, width, target, where) if inputs else None
    grouped = {i for group in (groups or {}).values() for i in group}
    more_targets = _target_columns(layout, names, target, grouped)
    features = [i for group in groups.values() for i in group] if groups else \
        [i for i in range(width) if i != target and i not in more_targets.values()]
    table = _Table(features + list(more_targets.values()), target, width, names, where,
                   "the header" if names else f"line {data[0][1]}")
    for row, line in itertools.chain(data, rows):
        table.add(row, line)
    x, cells, lines = table.finish()
    y = _target(cells, lines, target, names, where)
    extra_targets = tuple(NamedArrays(node, {"train": np.ascontiguousarray(x[:, len(features) + i])}, ())
                          for i, node in enumerate(more_targets))
    target_node = next((node[0] for node in (layout.targets if layout else ()) if names and names[target] in node),
                       None)
    if more_targets:
        x = np.ascontiguousarray(x[:, :len(features)])
    raw = RawData(name=path.name, source=str(path), path=where, x={"train": x}, y={"train": y},
                  feature_shape=(len(features),), task_hint=_auto_task(y),
                  label_names={"train": f"target column {_column(target, names)}"},
                  row_location=lambda part, index: f"line {lines[index]}", target_name=target_node,
                  extra_targets=extra_targets)
    return _split_groups(raw, groups) if groups else raw


def _target_columns(layout: DataLayout | None, names, target: int, grouped: set[int]) -> dict[str, int]:
    """``{target node id: column}`` for the columns named after a graph's further Targets (not the
    target column, in no Input's group); only a graph with several Targets has any."""
    if layout is None or len(layout.targets) < 2 or not names:
        return {}
    found = {}
    for node in layout.targets:
        column = next((names.index(key) for key in node if key in names), None)
        if column is not None and column != target and column not in grouped:
            found[node[0]] = column
    return found


def _groups(inputs: dict, names, width: int, target: int, where: str) -> dict[str, list[int]]:
    """Each Input's column indices; a group that does not fit the table, or holds the target column
    or a column of another group, is refused naming it."""
    groups: dict[str, list[int]] = {}
    owner: dict[int, str] = {}
    for name, group in inputs.items():
        location = f"training.dataset.inputs.{name}"
        columns, why = group_columns(group, names, width)
        if why:
            raise DatasetError(why, where, location)
        for column in columns:
            if column == target:
                raise DatasetError(f"the group holds the target column {_column(target, names)}; give the Input "
                                   "only feature columns (or set target_column)", where, location)
            if column in owner:
                raise DatasetError(f"column {_column(column, names)} is in the groups of both {owner[column]!r} "
                                   f"and {name!r}", where, location)
            owner[column] = name
        groups[name] = columns
    return groups


def _split_groups(raw: RawData, groups: dict[str, list[int]]) -> RawData:
    """The table's feature block cut into one array per Input group (in the groups' order)."""
    x = raw.x["train"]
    arrays, start = [], 0
    for name, columns in groups.items():
        arrays.append(NamedArrays(name, {"train": np.ascontiguousarray(x[:, start:start + len(columns)])},
                                  (len(columns),)))
        start += len(columns)
    first = arrays[0]
    return dataclasses.replace(raw, x=first.parts, feature_shape=first.feature_shape, input_name=first.name,
                               extra_inputs=tuple(arrays[1:]))


def _rows(reader, where: str) -> Iterator[tuple[list[str], int]]:
    """Non-blank rows and the (1-based) line each ends on."""
    try:
        for row in reader:
            if row and any(cell.strip() for cell in row) or len(row) > 1:
                yield row, reader.line_num
    except csv.Error as exc:
        line = f"line {reader.line_num}"
        if "field limit" in str(exc):
            raise DatasetError(f"a cell longer than {csv.field_size_limit():,} characters; is this really a CSV "
                               "file (one sample per line, cells separated by commas)?", where, line) from None
        raise DatasetError(f"cannot parse: {exc}", where, line) from None
    except OSError as exc:
        raise DatasetError(f"cannot read: {exc.strerror or exc}", where) from None


class _Table:
    """The data rows as they are read: features converted to float32 every ``BLOCK_ROWS`` rows (so a bad
    cell is named with its line and column), target cells kept as text, memory counted against the limit."""

    def __init__(self, features: list[int], target: int, width: int, names, where: str, width_from: str):
        self.features, self.target, self.width, self.names = features, target, width, names
        self.where, self.width_from = where, width_from
        self.blocks: list[np.ndarray] = []
        self.pending: list[list[str]] = []
        self.cells: list[str] = []
        self.lines = array("q")
        self.limit = data_limit()
        self.nbytes = 0

    def add(self, row: list[str], line: int) -> None:
        if len(row) != self.width:
            self._flush()  # a bad cell on an earlier line is the first problem in the file
            raise DatasetError(f"{len(row)} cells, but {self.width_from} has {self.width}", self.where,
                               f"line {line}")
        cell = row[self.target].strip()
        if cell == "":
            self._flush()
            raise DatasetError("empty target cell; every row needs a target value", self.where,
                               f"line {line}, column {_column(self.target, self.names)}")
        self.pending.append([row[i] for i in self.features])
        self.cells.append(cell)
        self.lines.append(line)
        # float32 features, the target's text (a Python str) and the line number
        self.nbytes += 4 * len(self.features) + 64 + len(cell)
        if self.nbytes > self.limit:
            check_size(self.nbytes, f"by line {line:,} the table holds {len(self.cells):,} rows of "
                       f"{len(self.features):,} features", self.where)
        if len(self.pending) >= BLOCK_ROWS:
            self._flush()

    def _flush(self) -> None:
        if not self.pending:
            return
        first = len(self.lines) - len(self.pending)
        block = _block(self.pending, self.lines[first:], self.features, self.names, self.where)
        self.blocks.append(block)
        self.pending = []

    def finish(self) -> tuple[np.ndarray, list[str], array]:
        self._flush()
        x = np.concatenate(self.blocks) if len(self.blocks) > 1 else self.blocks[0]
        self.blocks = []
        return x, self.cells, self.lines


def _block(table: list[list[str]], lines, columns: list[int], names, where: str) -> np.ndarray:
    """Rows of feature cells as float32, or a DatasetError naming the first cell that is not a finite
    float32 number."""
    try:
        x = np.array(table, dtype=np.float64)
    except ValueError:
        x = None
    if x is not None:
        with np.errstate(over="ignore", invalid="ignore"):
            x32 = x.astype(np.float32)
        if np.isfinite(x32).all():
            return x32.reshape(len(table), len(columns))
    _raise_bad_cell(table, lines, columns, names, where)
    # every cell is a number Python reads but NumPy does not (such as "1_000")
    return np.array([[float(cell) for cell in row] for row in table], dtype=np.float32)


def _refuse_other_encodings(start: bytes, where: str) -> None:
    for bom, name in OTHER_ENCODINGS:
        if start.startswith(bom):
            raise DatasetError(f"{name} text (it starts with a {name} byte order mark); save it as UTF-8", where)


def _decode_error(path: Path) -> DatasetError:
    """Where the first byte that is not UTF-8 is: read again in binary, a block at a time."""
    where = str(path)
    with open_regular(path) as file:
        return _find_bad_utf8(file, where)


def _find_bad_utf8(file: BinaryIO, where: str) -> DatasetError:
    offset, line, carry = 0, 1, b""
    while True:
        chunk = file.read(1024 * 1024)
        data = carry + chunk
        try:
            data.decode("utf-8")
            good, carry = data, b""
        except UnicodeDecodeError as exc:
            if chunk and exc.reason == "unexpected end of data":  # a character cut by the block's end
                good, carry = data[:exc.start], data[exc.start:]
            else:
                line += data[:exc.start].count(b"\n")
                return DatasetError(f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
                                    f"{offset + exc.start:,}); save the file as UTF-8", where, f"line {line}")
        line += good.count(b"\n")
        offset += len(good)
        if not chunk:
            return DatasetError("not UTF-8 text; save the file as UTF-8", where)  # pragma: no cover


def _sniff(sample: str) -> str:
    """The delimiter that splits the first rows into the most, equally many, cells (``,`` if none does)."""
    lines = [line for line in sample.splitlines()[:SNIFF_ROWS] if line.strip()]
    if len(sample) >= 64 * 1024 and len(lines) > 1:
        lines = lines[:-1]  # the sample may have cut the last line short
    best, best_width = ",", 1
    for delimiter in DELIMITERS:
        widths = {len(row) for row in csv.reader(lines, delimiter=delimiter)}
        if len(widths) == 1 and (width := widths.pop()) > best_width:
            best, best_width = delimiter, width
    return best


def _number(cell: str) -> float | None:
    try:
        return float(cell)
    except ValueError:
        return None


def _has_header(rows: list[list[str]]) -> bool:
    """The first row is a header when a cell of it is not a number but the cell below it is."""
    first = rows[0]
    if len(rows) == 1:
        return any(_number(cell) is None for cell in first)
    second = rows[1]
    return any(_number(a) is None and _number(b) is not None for a, b in zip(first, second))


def _column(index: int, names: list[str] | None) -> str:
    return repr(names[index]) if names else str(index)


def _target_index(target: str | None, names: list[str] | None, width: int, where: str) -> int:
    if target is None or target.strip() == "":
        return width - 1
    if names and target in names:
        return names.index(target)
    try:
        index = int(target)
    except ValueError:
        index = None
    location = "training.dataset.target_column"
    if index is None:
        if not names:
            raise DatasetError(f"no column named {target!r}: the file has no header row, so give a 0-based "
                               "column index such as \"0\" or \"-1\"", where, location)
        listed = ", ".join(repr(n) for n in names)
        raise DatasetError(f"no column named {target!r}; the columns are {listed}", where, location)
    if not -width <= index < width:
        raise DatasetError(f"column index {index} is out of range: the file has {width} columns "
                           f"(0 to {width - 1}, or -1 to -{width})", where, location)
    return index % width


def _features(rows, lines, columns: list[int], names, where: str) -> np.ndarray:
    table = [[row[i] for i in columns] for row in rows]
    try:
        x = np.array(table, dtype=np.float64)
    except ValueError:
        x = None
    if x is None or not np.isfinite(x).all():
        _raise_bad_cell(table, lines, columns, names, where)
    return x.astype(np.float32).reshape(len(rows), len(columns))


def _raise_bad_cell(table, lines, columns, names, where: str) -> None:
    """Raise for the first cell that is not a finite float32 number, saying where it is."""
    for values, line in zip(table, lines):
        for cell, column in zip(values, columns):
            location = f"line {line}, column {_column(column, names)}"
            if cell.strip() == "":
                raise DatasetError("empty cell; every feature needs a value (fill it in or drop the row)",
                                   where, location)
            number = _number(cell)
            if number is None:
                raise DatasetError(f"{cell.strip()!r} is not a number (feature columns must be numeric)",
                                   where, location)
            _check_finite(number, cell, where, location)


def _check_finite(number: float, cell: str, where: str, location: str) -> None:
    if not math.isfinite(number):
        raise DatasetError(f"{cell.strip()!r}: missing or infinite values are not supported", where, location)
    if abs(number) > FLOAT32_MAX:
        raise DatasetError(f"{cell.strip()!r} is beyond the range of the 32-bit floats training uses "
                           "(±3.4e38); rescale the column", where, location)


def _target(cells: list[str], lines, column: int, names, where: str) -> np.ndarray:
    numbers = [_number(cell) for cell in cells]
    if any(n is None for n in numbers):
        return np.array(cells, dtype=str)
    for number, cell, line in zip(numbers, cells, lines):
        if not math.isfinite(number):
            _check_finite(number, cell, where, f"line {line}, column {_column(column, names)}")
    return np.array(numbers, dtype=np.float64).reshape(-1, 1)


def _auto_task(y: np.ndarray) -> str:
    """Text, or whole numbers with few distinct values (fewer than half the rows): classes."""
    if y.dtype.kind in "US":
        return CLASSIFICATION
    values = np.unique(y)
    whole = bool(np.all(values == np.round(values)))
    if whole and len(values) <= MAX_AUTO_CLASSES and len(values) < len(y) / 2:
        return CLASSIFICATION
    return REGRESSION
