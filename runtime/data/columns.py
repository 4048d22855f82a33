"""CSV column groups: which columns of a table feed which Input node (the ``inputs`` dataset setting).

In a graph file the setting is a JSON object, one entry per Input (its id or name)::

    "inputs": {"image": "0:784", "meta": ["age", "height"]}

A group is a range of 0-based column indices (``"0:784"``, Python's slice: the end is left out;
``"784:"`` runs to the last column) or a list of column names and indices. A form's text field may
give the same as ``image = 0:784; meta = age, height``. ``resolve_groups`` turns the groups into
column indices for a table's header, with a message naming the group and column that do not fit.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from layerloom.core.params import Param

_RANGE = re.compile(r"^\s*(-?\d*)\s*:\s*(-?\d*)\s*$")
MAX_GROUPS = 64


@dataclass(frozen=True)
class ColumnGroupsParam(Param):
    """``{input: "a:b" | [column, ...]}``; also accepted as text ``input = a:b; other = c, d``."""

    kind = "column_groups"

    def _coerce(self, value: Any) -> dict[str, str | list]:
        if isinstance(value, str):
            value = _parse_text(value, self)
            if value is None:
                return None
        if not isinstance(value, dict):
            raise self.fail(f"expected an object mapping each Input to its columns, got {type(value).__name__}")
        if not value:
            return None
        if len(value) > MAX_GROUPS:
            raise self.fail(f"at most {MAX_GROUPS} Inputs")
        groups: dict[str, str | list] = {}
        for name, columns in value.items():
            if not isinstance(name, str) or not name.strip():
                raise self.fail("each group needs the name of an Input")
            if isinstance(columns, str):
                if not _RANGE.match(columns):
                    raise self.fail(f"{name}: {columns!r} is not a range such as \"0:784\" (or give a list of columns)")
                groups[name] = columns.strip()
            elif isinstance(columns, list) and columns and all(
                    isinstance(c, str) or (isinstance(c, int) and not isinstance(c, bool)) for c in columns):
                groups[name] = list(columns)
            else:
                raise self.fail(f"{name}: expected a range such as \"0:784\" or a list of column names or indices")
        return groups

    def to_json(self, value: Any) -> Any:
        return None if value is None else {k: (list(v) if isinstance(v, list) else v) for k, v in value.items()}

    def describe(self) -> str:
        return "each Input's columns, e.g. image = 0:784; meta = age, height"

    def field_text(self, value: Any) -> str:
        return groups_text(value)


def groups_text(groups: dict | None) -> str:
    """The text form of column groups: ``image = 0:784; meta = age, height`` (what a form field shows)."""
    if not groups:
        return ""
    return "; ".join(f"{name} = {columns if isinstance(columns, str) else ', '.join(str(c) for c in columns)}"
                     for name, columns in groups.items())


def _parse_text(text: str, param: Param) -> dict | None:
    """``image = 0:784; meta = age, height`` as a dict (None for an empty text); a JSON object (or one
    written with single quotes, as Python prints a dict) is read as JSON."""
    if not text.strip():
        return None
    if text.strip().startswith("{"):
        for candidate in (text, text.replace("'", '"')):
            try:
                value = json.loads(candidate)
            except ValueError:
                continue
            if isinstance(value, dict):
                return value
        raise param.fail("not a readable object; write e.g. image = 0:784; meta = age, height")
    groups: dict[str, Any] = {}
    for part in text.split(";"):
        if not part.strip():
            continue
        name, sep, columns = part.partition("=")
        if not sep:
            raise param.fail(f"{part.strip()!r}: write each group as input = columns (e.g. meta = age, height)")
        columns = columns.strip()
        if _RANGE.match(columns):
            groups[name.strip()] = columns
        else:
            groups[name.strip()] = [int(c) if re.fullmatch(r"-?\d+", c.strip()) else c.strip()
                                    for c in columns.split(",") if c.strip()]
    return groups


def group_columns(group: str | list, names: list[str] | None, width: int) -> tuple[list[int], str | None]:
    """The column indices of one group in a table of ``width`` columns (``names``: its header), or
    ``([], why)`` when the group does not fit the table."""
    if isinstance(group, str):
        match = _RANGE.match(group)
        start = int(match.group(1)) if match.group(1) else 0
        stop = int(match.group(2)) if match.group(2) else width
        columns = list(range(width))[start:stop]
        if not columns:
            return [], f"the range {group!r} holds no column of the {width} (0 to {width - 1})"
        return columns, None
    columns = []
    for column in group:
        if isinstance(column, int):
            if not -width <= column < width:
                return [], f"column index {column} is out of range: the file has {width} columns"
            columns.append(column % width)
        elif names and column in names:
            columns.append(names.index(column))
        elif names:
            return [], f"no column named {column!r}; the columns are {', '.join(repr(n) for n in names)}"
        else:
            return [], f"no column named {column!r}: the file has no header row, so give 0-based indices"
    return columns, None
