"""CSV tables: one sample per row, numeric feature columns and one target column (numbers or text)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from .assemble import RawData
from .base import CLASSIFICATION, REGRESSION, DatasetError

DELIMITERS = (",", ";", "\t")
SNIFF_ROWS = 20
MAX_AUTO_CLASSES = 20  # integer targets with at most this many distinct values are classes (task auto)


def load_csv(path: Path, target_column: str | None = None, header: str = "auto") -> RawData:
    """Read a CSV file; the target is the last column unless ``target_column`` names or indexes one."""
    where = str(path)
    rows, lines = _read_rows(path)
    if not rows:
        raise DatasetError("the file is empty", where)
    has_header = _has_header(rows) if header == "auto" else header == "yes"
    names = [cell.strip() for cell in rows[0]] if has_header else None
    if has_header:
        rows, lines = rows[1:], lines[1:]
    if not rows:
        raise DatasetError("the file has a header row but no data rows", where)
    width = len(names) if names else len(rows[0])
    for row, line in zip(rows, lines):
        if len(row) != width:
            first = "the header" if names else f"line {lines[0]}"
            raise DatasetError(f"{len(row)} cells, but {first} has {width}", where, f"line {line}")
    if width < 2:
        raise DatasetError("only one column: a CSV needs at least one feature column and a target column", where)
    target = _target_index(target_column, names, width, where)
    features = [i for i in range(width) if i != target]
    x = _features(rows, lines, features, names, where)
    y = _target(rows, lines, target, names, where)
    return RawData(name=path.name, source=str(path), path=where, x={"train": x}, y={"train": y},
                   feature_shape=(len(features),), task_hint=_auto_task(y),
                   label_names={"train": f"target column {_column(target, names)}"})


def _read_rows(path: Path) -> tuple[list[list[str]], list[int]]:
    """Non-blank rows and the (1-based) line each ends on."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as file:
            sample = file.read(64 * 1024)
            file.seek(0)
            reader = csv.reader(file, delimiter=_sniff(sample))
            rows, lines = [], []
            for row in reader:
                if row and any(cell.strip() for cell in row) or len(row) > 1:
                    rows.append(row)
                    lines.append(reader.line_num)
    except UnicodeDecodeError as exc:
        raise DatasetError(f"not UTF-8 text (byte {exc.start:,}); is it really a CSV file?", str(path)) from None
    except csv.Error as exc:
        raise DatasetError(f"cannot parse: {exc}", str(path)) from None
    except OSError as exc:
        raise DatasetError(f"cannot read: {exc.strerror or exc}", str(path)) from None
    return rows, lines


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
    """Find the first cell that is not a finite number and say where it is."""
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
            if not math.isfinite(number):
                raise DatasetError(f"{cell.strip()!r}: missing or infinite values are not supported",
                                   where, location)
    raise DatasetError("the feature columns are not all numbers", where)  # pragma: no cover - found above


def _target(rows, lines, column: int, names, where: str) -> np.ndarray:
    cells = [row[column].strip() for row in rows]
    for cell, line in zip(cells, lines):
        if cell == "":
            raise DatasetError("empty target cell; every row needs a target value", where,
                               f"line {line}, column {_column(column, names)}")
    numbers = [_number(cell) for cell in cells]
    if any(n is None for n in numbers):
        return np.array(cells, dtype=str)
    for number, cell, line in zip(numbers, cells, lines):
        if not math.isfinite(number):
            raise DatasetError(f"{cell!r}: missing or infinite values are not supported", where,
                               f"line {line}, column {_column(column, names)}")
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
