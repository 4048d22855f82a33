"""A side table for an image folder: a CSV with one row per image, whose other columns feed more Inputs
(and Targets) of a graph that takes the image and something else, such as a patient's age beside a scan.

The table has a header row. Its file column is the one named ``filename``, ``file``, ``image`` or
``path`` (else its first column) and holds each image's path relative to the folder (``cats/001.png``)
or its bare file name when those are unique. The ``inputs`` dataset setting gives each further Input
its columns (``{"meta": ["age", "height"]}``); a column named after one of the graph's Targets feeds
that Target. Every image needs its row; rows of images that are not in the folder are left out.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
from pathlib import Path

import numpy as np

from layerloom.data.assemble import RawData
from layerloom.data.base import DataLayout, DatasetError, NamedArrays
from layerloom.data.columns import group_columns
from layerloom.data.guard import check_size, open_regular

FILE_COLUMNS = ("filename", "file", "image", "path")


def read_side_table(path: Path) -> tuple[list[str], list[tuple[list[str], int]]]:
    """The header and the rows (with their line numbers) of a small CSV."""
    where = str(path)
    with open_regular(path) as binary:
        data = binary.read()
    check_size(len(data) * 8, f"the side table holds {len(data):,} bytes of text", where)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DatasetError("not UTF-8 text; save the side table as UTF-8", where) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        rows = [(row, reader.line_num) for row in reader if any(cell.strip() for cell in row)]
    except csv.Error as exc:
        raise DatasetError(f"cannot parse: {exc}", where, f"line {reader.line_num}") from None
    if len(rows) < 2:
        raise DatasetError("a side table needs a header row and one row per image", where)
    header = [cell.strip() for cell in rows[0][0]]
    for row, line in rows[1:]:
        if len(row) != len(header):
            raise DatasetError(f"{len(row)} cells, but the header has {len(header)}", where, f"line {line}")
    return header, rows[1:]


def attach_side_table(raw: RawData, folder: Path, path: Path, groups: dict | None,
                      layout: DataLayout | None) -> RawData:
    """``raw`` (an image folder's, with ``sample_files``) with the table's column groups as further
    Inputs and its columns named after Targets as further Targets, row by row with the images."""
    where = str(path)
    header, rows = read_side_table(path)
    file_column = next((header.index(n) for n in FILE_COLUMNS if n in header), 0)
    lookup = _row_lookup(rows, file_column, where)
    names: dict[str, int] = {}
    for file in (f for files in raw.sample_files.values() for f in files):
        names[Path(file).name] = names.get(Path(file).name, 0) + 1
    order = {part: [_row_of(file, folder, lookup, names, path) for file in files]
             for part, files in raw.sample_files.items()}
    extra_inputs = []
    for name, group in (groups or {}).items():
        columns, why = group_columns(group, header, len(header))
        if why:
            raise DatasetError(why, where, f"training.dataset.inputs.{name}")
        if file_column in columns:
            raise DatasetError(f"the group holds the file column {header[file_column]!r}", where,
                               f"training.dataset.inputs.{name}")
        parts = {part: _numbers(rows, index, columns, header, where) for part, index in order.items()}
        extra_inputs.append(NamedArrays(name, parts, (len(columns),)))
    extra_targets = []
    for node in (layout.targets if layout is not None else ()):
        column = next((header.index(key) for key in node if key in header), None)
        if column is None or column == file_column:
            continue
        parts = {part: _numbers(rows, index, [column], header, where)[:, 0] for part, index in order.items()}
        extra_targets.append(NamedArrays(header[column], parts, ()))
    if not extra_inputs and not extra_targets:
        raise DatasetError("the side table feeds nothing: give its columns to an Input with training.dataset.inputs "
                           "(e.g. {\"meta\": [\"age\", \"height\"]}), or name a column after a Target", where)
    return dataclasses.replace(raw, extra_inputs=raw.extra_inputs + tuple(extra_inputs),
                               extra_targets=raw.extra_targets + tuple(extra_targets))


def _row_lookup(rows, column: int, where: str) -> dict[str, int]:
    """Row index by the file column's text, a path with ``/`` separators (or a bare file name)."""
    lookup: dict[str, int] = {}
    for index, (row, line) in enumerate(rows):
        key = row[column].strip().replace("\\", "/").removeprefix("./")
        if not key:
            raise DatasetError("empty file name", where, f"line {line}")
        if key in lookup:
            raise DatasetError(f"{key!r} has two rows (lines {rows[lookup[key]][1]} and {line})", where, f"line {line}")
        lookup[key] = index
    return lookup


def _row_of(file: str, folder: Path, lookup: dict[str, int], names: dict[str, int], table: Path) -> int:
    """The row of an image: by its path relative to the folder (with or without the split folder such
    as ``train/``), else by its bare file name when no other image has that name."""
    path = Path(file)
    try:
        relative = path.relative_to(folder).as_posix()
    except ValueError:
        relative = path.name
    for key in (relative, "/".join(relative.split("/")[1:])):
        if key in lookup:
            return lookup[key]
    if path.name in lookup:
        if names[path.name] > 1:
            raise DatasetError(f"{path.name!r} names {names[path.name]} images in different folders; write each "
                               "image's path relative to the folder (such as cats/001.png)", str(table))
        return lookup[path.name]
    raise DatasetError(f"no row for the image {relative!r}: every image needs a row (its path relative to the "
                       "folder, or its file name, in the file column)", str(table))


def _numbers(rows, index: list[int], columns: list[int], header: list[str], where: str) -> np.ndarray:
    out = np.empty((len(index), len(columns)), dtype=np.float32)
    for i, r in enumerate(index):
        row, line = rows[r]
        for j, column in enumerate(columns):
            cell = row[column].strip()
            try:
                value = float(cell)
            except ValueError:
                value = math.nan
            if not math.isfinite(value):
                raise DatasetError(f"{cell!r} is not a number (the columns an Input or Target takes must be "
                                   "numeric)", where, f"line {line}, column {header[column]!r}")
            out[i, j] = value
    return out
