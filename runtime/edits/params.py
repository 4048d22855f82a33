"""Params, and params bound to a block's params.

Inside a block, a node's param may hold ``"$channels"``: a reference to the block param ``channels``,
which each instance sets. Here live the rules for that: which values a param may take (a value its
spec accepts, or a reference to a param the block has), which block params a node param may use (those
of its kind), and the plans that set a param, make a node's param a new block param, change a block
param's default or doc, or remove a block param nothing uses.
"""

from __future__ import annotations

import copy
from typing import Any

from layerloom.catalog.spec import NodeSpec
from layerloom.core.errors import LayerLoomError, ParamError
from layerloom.core.params import Param
from layerloom.edits.plan import Plan, Refusal, Scope, SetParam, UpdateBlock, graph_at, refused
from layerloom.model.blocks import (REPEAT, BlockDef, check_param_records, owning_block, param_from_record, param_kind,
                                    param_record, references)
from layerloom.model.graph import Graph, Node


# ------------------------------------------------------------------------- references
def is_reference(value: Any) -> bool:
    """True for a whole-value reference to a block param (``"$channels"``)."""
    return isinstance(value, str) and value.startswith("$")


def bound_to(value: Any) -> str | None:
    """The block param a value refers to (``"$channels"`` -> ``"channels"``), or None."""
    return value[1:] if is_reference(value) else None


def stored_value(graph: Graph, node: Node, name: str, value: Any) -> Any:
    """``value`` as the graph would store it for ``node``'s param ``name``, or ``ParamError``. Inside a
    block, a reference to one of the block's params is a value too; outside, ``"$x"`` is text like any."""
    spec = graph.spec(node)
    if spec is None:
        return value
    block = owning_block(graph)
    if block is not None and is_reference(value):
        if value[1:] not in {p["name"] for p in block.params}:
            raise ParamError(name, f"block {block.name} has no param {value[1:]!r}")
        return value
    try:
        param = spec.param(name)
    except KeyError:
        raise ParamError(name, f"{spec.type_id} has no parameter {name!r}") from None
    return param.to_json(param.coerce(value))


def complaint(param: Param, value: Any, block: BlockDef | None = None) -> str | None:
    """What is wrong with ``value`` for ``param`` (None: nothing). Inside ``block``, a reference is the
    instances' business: each instance's value is checked where it is set."""
    if block is not None and is_reference(value):
        return None
    try:
        param.coerce(value)
    except ParamError as exc:
        return str(exc)
    return None


def refusal_of(exc: LayerLoomError) -> Refusal:
    """The refusal an error stands for; its message is the error's text."""
    if isinstance(exc, ParamError):
        return Refusal(exc.param, exc.detail)
    return Refusal("", str(exc))


def plan_set_param(root: Graph, scope: Scope, node_id: str, name: str, value: Any) -> Plan:
    """Set one param (a step of its own, merging with the next edit of the same param); refused with
    the spec's message (or the block's, for a reference) when the value cannot be stored."""
    graph = graph_at(root, scope)
    try:
        stored = stored_value(graph, graph.node(node_id), name, value)
    except LayerLoomError as exc:
        return Plan(refusals=[refusal_of(exc)])
    return Plan(edits=[SetParam(node_id, name, stored, scope)])


# ------------------------------------------------------------------------- binding to block params
def bindable(block: BlockDef, param: Param, value: Any = None) -> list[dict]:
    """The block's param records ``param`` may use: those of its kind, except the one ``value`` uses now."""
    kind = param_kind(param)
    bound = bound_to(value)
    return [record for record in block.params if record["kind"] == kind and record["name"] != bound]


def can_become_block_param(param: Param) -> bool:
    """Only int, float, bool and text params can stand for a block param."""
    return param_kind(param) is not None


def fresh_param_name(block: BlockDef, base: str) -> str:
    """``base``, or ``base2``, ``base3``... whichever is not a param of the block (nor ``repeat``)."""
    taken = {r["name"] for r in block.params}
    name, k = base, 2
    while name in taken or name == REPEAT.name:
        name, k = f"{base}{k}", k + 1
    return name


def unlink_value(block: BlockDef, param: Param, value: Any) -> Any:
    """What a param bound by ``value`` holds once unlinked: the block param's default (the spec's
    default when the block has no such param)."""
    record = next((r for r in block.params if r["name"] == bound_to(value)), None)
    return record["default"] if record is not None else param.to_json(param.default)


def plan_make_block_param(root: Graph, scope: Scope, node_id: str, param_name: str) -> Plan:
    """Turn an inner node's param into a new block param (its value the default) and bind the node's
    param to it, as one step. The new param is the last of the block's records."""
    graph = graph_at(root, scope)
    block = owning_block(graph)
    node = graph.node(node_id)
    what = f"Cannot make {node.name}.{param_name} a block param"
    spec: NodeSpec | None = graph.spec(node)
    if block is None or spec is None:
        return refused(what, "only a node inside a block can use a block param")
    try:
        param = spec.param(param_name)
    except KeyError:
        return refused(what, f"{spec.type_id} has no parameter {param_name!r}")
    try:
        record = param_record(param)
        record["name"] = fresh_param_name(block, param_name)
        record["default"] = param.to_json(param.coerce(node.params.get(param_name, param.default)))
        records = copy.deepcopy(block.params) + [record]
        check_param_records(records)
    except LayerLoomError as exc:
        return refused(what, str(exc))
    return Plan(f"Make {node.name}.{param_name} a param of block {block.name}",
                [UpdateBlock(block.name, params=records), SetParam(node_id, param_name, f"${record['name']}", scope)])


# ------------------------------------------------------------------------- the block's own params
def _open_block(root: Graph, scope: Scope) -> BlockDef:
    block = owning_block(graph_at(root, scope))
    if block is None:
        raise LayerLoomError("the model's own graph has no block params")
    return block


def plan_block_default(root: Graph, scope: Scope, index: int, value: Any) -> Plan:
    """Set the default of the block's ``index``-th param (refused with the param's message); nothing
    to do when it already holds the value."""
    block = _open_block(root, scope)
    records = copy.deepcopy(block.params)
    name = records[index]["name"]
    try:
        param = param_from_record(records[index])
        records[index]["default"] = param.to_json(param.coerce(value))
    except LayerLoomError as exc:
        return Plan(refusals=[refusal_of(exc)])
    if records == block.params:
        return Plan()
    return Plan(edits=[UpdateBlock(block.name, params=records, text=f"Set default of {name}")])


def plan_remove_block_param(root: Graph, scope: Scope, index: int) -> Plan:
    """Take the block's ``index``-th param away; refused while an inner param uses it."""
    block = _open_block(root, scope)
    name = block.params[index]["name"]
    used = references(block, name)
    if used:
        return refused(f"Cannot remove block param {name!r}", f"{', '.join(used)} use(s) it; unlink them first")
    records = [copy.deepcopy(r) for k, r in enumerate(block.params) if k != index]
    return Plan(edits=[UpdateBlock(block.name, params=records, text=f"Remove param {name}")])


def plan_block_doc(root: Graph, scope: Scope, doc: str) -> Plan:
    """Change the block's doc line (nothing to do when it is the same)."""
    block = _open_block(root, scope)
    if doc == block.doc:
        return Plan()
    return Plan(edits=[UpdateBlock(block.name, doc=doc, text="Change block doc")])
