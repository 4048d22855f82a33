"""Plans: what a user action does to a graph, as plain edit records, before anything is done.

An edit names the level it changes by ``scope`` (None: the model's graph; a block's name: that block's
inside); blocks themselves are the model's (``InstallBlock``, ``UpdateBlock``). Node ids are chosen by
the planner (``fresh_id``), so later edits of the same plan can name the nodes it adds. A ``Plan`` is
carried out in order, each edit on the graph as the ones before left it; ``apply_plan`` does that
through the public graph API, the editor with one undo command per edit.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Union

from layerloom.core.errors import GraphError
from layerloom.model.blocks import BlockDef, install_block, owning_block, update_block
from layerloom.model.graph import Edge, Graph

Scope = Union[str, None]   # None: the model's graph; a name: the inside of that block


@dataclass(frozen=True)
class AddNode:
    """Add a node under a chosen id. ``check`` refuses an unknown type or invalid params (as a user's
    add is); a node put back where it was (ungroup) goes in unchecked at its place in the order."""

    node_id: str
    type_id: str
    name: str | None = None
    params: dict = field(default_factory=dict)
    position: tuple[float, float] | None = None
    ui: dict = field(default_factory=dict)
    index: int | None = None
    extra: dict = field(default_factory=dict)
    check: bool = True
    scope: Scope = None


@dataclass(frozen=True)
class RemoveNode:
    """Remove a node and its wires."""

    node_id: str
    scope: Scope = None


@dataclass(frozen=True)
class Connect:
    """Wire two ports, checked, replacing the wire that held the input."""

    edge: Edge
    scope: Scope = None


@dataclass(frozen=True)
class AddEdge:
    """Put a wire at a place in the graph's order, unchecked (a wire moved, not drawn)."""

    edge: Edge
    index: int | None = None
    extra: dict = field(default_factory=dict)
    scope: Scope = None


@dataclass(frozen=True)
class Disconnect:
    edge: Edge
    scope: Scope = None


@dataclass(frozen=True)
class SetParam:
    """Set a param to ``value`` as the graph stores it (checked by the planner: a value or a ``"$name"``)."""

    node_id: str
    name: str
    value: Any
    scope: Scope = None


@dataclass(frozen=True)
class Rename:
    node_id: str
    name: str
    scope: Scope = None


@dataclass(frozen=True)
class MoveNode:
    """Move a node's card to ``position`` (its top-left corner): room made for a new node, a tidied level."""

    node_id: str
    position: tuple[float, float]
    scope: Scope = None


@dataclass(frozen=True)
class InstallBlock:
    """Put exactly ``block`` under ``name`` in the model (None: take the block away)."""

    name: str
    block: BlockDef | None


@dataclass(frozen=True)
class UpdateBlock:
    """Change a block's doc, param records or ports' order in place (None: unchanged); ``text`` names
    the undo step when the update is one on its own."""

    name: str
    doc: str | None = None
    params: list[dict] | None = None
    input_order: tuple[str, ...] | None = None
    output_order: tuple[str, ...] | None = None
    text: str | None = None

    @property
    def changes(self) -> dict[str, Any]:
        return {key: value for key in ("doc", "params", "input_order", "output_order")
                if (value := getattr(self, key)) is not None}


Edit = Union[AddNode, RemoveNode, Connect, AddEdge, Disconnect, SetParam, Rename, MoveNode, InstallBlock,
             UpdateBlock]


@dataclass(frozen=True)
class Refusal:
    """Something the action will not do (``what``: a node, or the action itself; empty when the reason
    says it all) and why; ``message`` is the sentence a user reads."""

    what: str
    why: str

    @property
    def message(self) -> str:
        return f"{self.what}: {self.why}" if self.what else self.why

    def __str__(self) -> str:
        return self.message


@dataclass
class Plan:
    """The edits of one user action, in order, and what it refused. ``text`` names the undo step that
    holds the edits; None when the plan is one edit that is a step of its own (a param edit then merges
    with the next edit of the same param, as typing does). A plan with no edits changes nothing; with
    refusals and no edits the action was refused."""

    text: str | None = None
    edits: list[Edit] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)

    def refuse(self, what: str, why: str) -> "Plan":
        self.refusals.append(Refusal(what, why))
        return self

    @property
    def refused(self) -> bool:
        return not self.edits and bool(self.refusals)

    @property
    def added_ids(self) -> list[str]:
        """The ids of the nodes the plan adds, in order."""
        return [edit.node_id for edit in self.edits if isinstance(edit, AddNode)]


def refused(what: str, why: str, text: str | None = None) -> Plan:
    """A plan that does nothing, for the reason given."""
    return Plan(text).refuse(what, why)


# ------------------------------------------------------------------------- levels
def graph_at(root: Graph, scope: Scope) -> Graph:
    """The graph a scope names: the model's, or the inside of one of its blocks."""
    if scope is None:
        return root
    block = root.blocks.get(scope)
    if block is None:
        raise GraphError(f"no block called {scope!r}")
    return block.graph


def scope_of(graph: Graph) -> Scope:
    """The scope that names ``graph``: its block's name for a block's inside, else None."""
    block = owning_block(graph)
    return block.name if block is not None else None


# ------------------------------------------------------------------------- ids
def id_base(type_id: str) -> str:
    """The stem of the ids of nodes of a type (``Conv2d`` -> ``conv2d``), as ``Graph.new_id`` makes them."""
    base = re.sub(r"[^a-z0-9]+", "_", type_id.lower()).strip("_") or "node"
    return base if base[0].isalpha() else "n_" + base


def fresh_id(type_id: str, taken: Iterable[str]) -> str:
    """An id for a new node of ``type_id``: ``<base>_<n>`` with ``n`` one more than the highest in use
    (so a new node never takes the id of one still in sight)."""
    base = id_base(type_id)
    pattern = re.compile(rf"{re.escape(base)}_(\d{{1,9}})")
    used = [int(m.group(1)) for name in taken if (m := pattern.fullmatch(name))]
    return f"{base}_{max(used, default=0) + 1}"


# ------------------------------------------------------------------------- carrying out
def apply_plan(plan: Plan, root: Graph) -> None:
    """Make the plan's edits on ``root`` (the model) and its blocks, in order, through the public
    graph API: what the editor's undo commands do, without the undo. An edit that fails raises
    (``LayerLoomError``) with the edits before it made."""
    for edit in plan.edits:
        apply_edit(edit, root)


def apply_edit(edit: Edit, root: Graph) -> None:
    if isinstance(edit, InstallBlock):
        install_block(root, edit.name, edit.block)
        return
    if isinstance(edit, UpdateBlock):
        update_block(root, edit.name, **copy.deepcopy(edit.changes))
        return
    graph = graph_at(root, edit.scope)
    if isinstance(edit, AddNode):
        node = graph.add_node(edit.type_id, edit.name, copy.deepcopy(edit.params), node_id=edit.node_id,
                              position=edit.position, ui=copy.deepcopy(edit.ui), index=edit.index, check=edit.check)
        node.extra.update(copy.deepcopy(edit.extra))
    elif isinstance(edit, RemoveNode):
        graph.remove_node(edit.node_id)
    elif isinstance(edit, Connect):
        e = edit.edge
        graph.connect(e.src, e.src_port, e.dst, e.dst_port, replace=True)
    elif isinstance(edit, AddEdge):
        e = edit.edge
        graph.connect(e.src, e.src_port, e.dst, e.dst_port, check=False, index=edit.index, extra=edit.extra)
    elif isinstance(edit, Disconnect):
        graph.disconnect(edit.edge)
    elif isinstance(edit, SetParam):
        graph.set_param(edit.node_id, edit.name, copy.deepcopy(edit.value), check=False)  # checked when planned
    elif isinstance(edit, Rename):
        graph.rename_node(edit.node_id, edit.name)
    elif isinstance(edit, MoveNode):
        graph.move_node(edit.node_id, *edit.position)
    else:  # pragma: no cover - a new record without its case here
        raise TypeError(f"not an edit: {edit!r}")
