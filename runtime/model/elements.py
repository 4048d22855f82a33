"""The parts a graph is made of: nodes, edges, the events a graph announces and the table of its blocks,
with the rules for ids, names and which port kinds may meet.

``layerloom.model.graph`` builds the ``Graph`` from these and re-exports them, so callers import them
from there. Nothing here knows about analysis, blocks' meaning or files.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any, Iterable

from layerloom.core.errors import GraphError
from layerloom.core.events import Event
from layerloom.catalog.spec import LOSS, TARGET, Port

_ID_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]{0,63}")
MAX_NAME = 64
TRAINABLE = "trainable"  # the node record's key of the trainable switch (absent: trainable)


def valid_id(node_id: Any) -> bool:
    return isinstance(node_id, str) and _ID_RE.fullmatch(node_id) is not None


def clean_name(name: Any) -> str:
    """A node name as stored: stripped, non-empty text of at most 64 characters."""
    if not isinstance(name, str) or not name.strip():
        raise GraphError("a node name cannot be empty")
    name = name.strip()
    if len(name) > MAX_NAME:
        raise GraphError(f"a node name has at most {MAX_NAME} characters")
    return name


def id_base(type_id: str) -> str:
    """The stem of the ids of nodes of a type (``Conv2d`` -> ``conv2d``, ``Block:ResBlock`` -> ``block_resblock``)."""
    base = re.sub(r"[^a-z0-9]+", "_", type_id.lower()).strip("_") or "node"
    return base if base[0].isalpha() else "n_" + base


def fresh_id(type_id: str, taken: Iterable[str]) -> str:
    """The id of a new node of ``type_id``: ``<base>_<n>``, counting per type, ``n`` one more than the
    highest in use (the first Linear is ``linear_1``, the next ``linear_2``, whatever else is there)."""
    base = id_base(type_id)
    pattern = re.compile(rf"{re.escape(base)}_(\d{{1,9}})")
    used = [int(m.group(1)) for name in taken if (m := pattern.fullmatch(name))]
    return f"{base}_{max(used, default=0) + 1}"


def unique_name(base: str, taken: set[str]) -> str:
    """``base``, or ``base1``, ``base2``... (a trailing number replaced), whichever is not taken."""
    if base not in taken:
        return base
    stem = re.sub(r"_?\d+$", "", base) or base
    i = 1
    while f"{stem}{i}" in taken:
        i += 1
    return f"{stem}{i}"


@dataclass(frozen=True, slots=True)
class Edge:
    """A wire from an output port to an input port. Edges are values: equal when their ends are."""

    src: str
    src_port: str
    dst: str
    dst_port: str

    def __str__(self) -> str:
        return f"{self.src}.{self.src_port} -> {self.dst}.{self.dst_port}"


class Node:
    """One node. ``params`` holds JSON values as set (possibly invalid, to be reported, never lost);
    ``ui`` is editor data (position, colour, collapsed...) that the runtime stores but ignores.

    ``trainable`` is False for a frozen node (fine-tuning: its weights stay as loaded). The file holds it
    as ``"trainable": false`` beside ``params`` (absent means true); it is kept with the record's other
    keys in ``extra``, so every copy of a node (undo, paste, group) carries it."""

    __slots__ = ("id", "type_id", "name", "params", "ui", "extra")

    def __init__(self, node_id: str, type_id: str, name: str, params: dict | None = None, ui: dict | None = None,
                 extra: dict | None = None):
        self.id = node_id
        self.type_id = type_id
        self.name = name
        self.params: dict[str, Any] = dict(params or {})
        self.ui: dict[str, Any] = dict(ui or {})
        self.extra: dict[str, Any] = dict(extra or {})  # unknown keys of the file record, kept for saving

    @property
    def position(self) -> tuple[float, float]:
        """Editor position; (0, 0) when the file holds none or nonsense."""
        x, y = self.ui.get("x", 0.0), self.ui.get("y", 0.0)
        ok = all(isinstance(v, (int, float)) and not isinstance(v, bool) and v == v and abs(v) < 1e9 for v in (x, y))
        return (float(x), float(y)) if ok else (0.0, 0.0)

    @property
    def trainable(self) -> bool:
        """False when the node is frozen: training leaves its weights (and batch-norm statistics) alone."""
        return self.extra.get(TRAINABLE) is not False

    def label(self) -> str:
        return f'{self.type_id} "{self.name}"'

    def __repr__(self) -> str:
        return f"Node({self.id!r}, {self.type_id!r}, name={self.name!r})"


class GraphEvents:
    """The change notifications a graph emits (plain Python; the editor re-emits them as Qt signals)."""

    def __init__(self) -> None:
        self.node_added = Event("node_added")          # (node)
        self.node_removed = Event("node_removed")      # (node)
        self.edge_added = Event("edge_added")          # (edge)
        self.edge_removed = Event("edge_removed")      # (edge)
        self.param_changed = Event("param_changed")    # (node, name, old, new)
        self.node_renamed = Event("node_renamed")      # (node, old, new)
        self.node_moved = Event("node_moved")          # (node, x, y)
        self.ui_changed = Event("ui_changed")          # (node, key, value)
        self.trainable_changed = Event("trainable_changed")  # (node, old, new): frozen or unfrozen
        self.meta_changed = Event("meta_changed")      # (key, value): name, description, training
        self.block_changed = Event("block_changed")    # (name, old BlockDef or None, new BlockDef or None)
        self.changed = Event("changed")                # () after any of the above


class BlockTable(dict):
    """A graph's blocks by name (``layerloom.model.blocks.BlockDef``), shared with the insides of its
    blocks so that nested ``Block:`` types resolve from the owner's blocks.

    ``revision`` counts changes: every change to the table itself and every announced edit of a graph
    that shares it (the owner or a block's inside; ``Graph`` calls ``touch`` for every edit but a move
    or a ``ui`` change). ``derived`` holds what is computed from the blocks (the analysed insides of
    block instances, see ``layerloom.model.blocks.expansion``); it is emptied on every change, so
    nothing in it is stale.
    """

    def __init__(self, *args, **kwargs):
        self.revision = 0
        self.derived: dict = {}
        super().__init__(*args, **kwargs)

    def touch(self) -> None:
        """Something the blocks' meaning depends on changed: forget what was derived from them."""
        self.revision = getattr(self, "revision", 0) + 1
        self.derived = {}

    def __setitem__(self, key, value) -> None:
        super().__setitem__(key, value)
        self.touch()

    def __delitem__(self, key) -> None:
        super().__delitem__(key)
        self.touch()

    def __ior__(self, other):
        result = super().__ior__(other)
        self.touch()
        return result

    def pop(self, *args):
        result = super().pop(*args)
        self.touch()
        return result

    def popitem(self):
        result = super().popitem()
        self.touch()
        return result

    def clear(self) -> None:
        super().clear()
        self.touch()

    def update(self, *args, **kwargs) -> None:
        super().update(*args, **kwargs)
        self.touch()

    def setdefault(self, key, default=None):
        result = super().setdefault(key, default)
        self.touch()
        return result

    def __reduce__(self):  # copy and pickle as a table of the same blocks, nothing derived
        return (BlockTable, (dict(self),))


def kind_refusal(out_port: Port, in_port: Port) -> str:
    """Why a value of ``out_port``'s kind cannot go into ``in_port`` (the caller checked that it cannot)."""
    if out_port.kind == TARGET:
        return "labels from a Target can only feed the target input of a loss"
    if out_port.kind == LOSS:
        return "a loss value cannot feed another node"
    if in_port.kind == LOSS:
        return f"input {in_port.name!r} takes a loss value"
    return f"a {out_port.kind} cannot go into {in_port.name!r}, which takes a {in_port.kind}"


def finite_position(value: Any) -> float:
    """A position coordinate as stored (a float), or GraphError for anything but a finite number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise GraphError(f"a position must be a finite number, got {value!r}")
    return float(value)


def check_json(value: Any, what: str) -> None:
    """GraphError naming ``what`` unless ``value`` is plain JSON data (finite numbers)."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise GraphError(f"{what} must be plain JSON data: {exc}") from None


def find_port(ports: tuple[Port, ...], name: str) -> Port | None:
    for port in ports:
        if port.name == name:
            return port
    return None


def moved_last_to(items: dict, index: int) -> dict:
    """``items`` with its last entry moved to position ``index`` (clamped)."""
    pairs = list(items.items())
    last = pairs.pop()
    pairs.insert(max(0, min(index, len(pairs))), last)
    return dict(pairs)
