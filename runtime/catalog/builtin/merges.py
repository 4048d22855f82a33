"""Merges: Add, Multiply and Concat over 2 to 8 inputs (skip connections, multi-branch networks)."""

from __future__ import annotations

import operator
from functools import lru_cache

from layerloom.core.errors import ShapeError
from layerloom.core.params import IntParam
from layerloom.core.shapes import broadcast, format_shape
from layerloom.catalog.spec import NodeSpec, Port
from layerloom.catalog.builtin._common import MERGE, check_dim, torch

INPUTS = IntParam("inputs", 2, "Number of inputs", minimum=2, maximum=8)


@lru_cache(maxsize=None)
def _ports(count: int) -> tuple[Port, ...]:
    return tuple(Port(f"in{i}") for i in range(1, count + 1))


def merge_ports(params) -> tuple[Port, ...]:
    count = params.get("inputs", 2)
    if not isinstance(count, int) or not 2 <= count <= 8:
        count = 2
    return _ports(count)


def _connected(ctx):
    items = ctx.connected()
    for port in ctx.spec.input_ports(ctx.params):
        if ctx.inputs.get(port.name) is None:
            raise ShapeError(f"input {port.name!r} is not connected", port.name)
    dtypes = {spec.dtype for _, spec in items}
    if len(dtypes) > 1:
        raise ShapeError("inputs mix float32 and int64 tensors", items[-1][0])
    return items


def _elementwise_for(verb: str):
    def infer(ctx):
        items = _connected(ctx)
        shapes = [spec.shape for _, spec in items]
        ranks = {len(s) for s in shapes}
        if len(ranks) > 1:
            listed = ", ".join(f"{format_shape(sp.shape)} ({name})" for name, sp in items)
            raise ShapeError(
                f"inputs have shapes {listed} with different numbers of dimensions; the batch would be "
                f"broadcast into the features. Add a Reshape so they have the same rank", items[-1][0])
        result = broadcast(shapes)
        if result is None:
            listed = ", ".join(f"{format_shape(s)} ({name})" for name, s in ((n, sp.shape) for n, sp in items))
            raise ShapeError(
                f"inputs have shapes {listed}, which cannot be {verb}; make them match, e.g. with a Linear "
                "or a 1x1 Conv2d on the shorter branch", items[-1][0])
        return items[0][1].with_shape(result)
    return infer


def _fold_for(op):
    def emit(graph, args, ctx, name):
        node = args[0]
        for i, arg in enumerate(args[1:], start=1):
            last = i == len(args) - 1
            node = graph.create_node("call_function", op, (node, arg), name=name if last else f"{name}_part")
        return node
    return emit


def _concat_infer(ctx):
    items = _connected(ctx)
    first = items[0][1]
    dim = check_dim(ctx["dim"], first.rank)
    total = 0
    for name, spec in items:
        if spec.rank != first.rank:
            raise ShapeError(f"all inputs need the same number of dimensions: {format_shape(first.shape)} "
                             f"and {format_shape(spec.shape)} ({name})", name)
        for axis in range(1, first.rank):
            if axis != dim and spec.shape[axis] != first.shape[axis]:
                raise ShapeError(
                    f"inputs must match except along dim {ctx['dim']}: {format_shape(first.shape)} and "
                    f"{format_shape(spec.shape)} ({name}) differ in dim {axis}", name)
        total += spec.shape[dim]
    shape = list(first.shape)
    shape[dim] = total
    return first.with_shape(tuple(shape))


def _concat_emit(graph, args, ctx, name):
    return graph.create_node("call_function", torch.cat, (tuple(args),), {"dim": ctx["dim"]}, name=name)


def specs():
    return [
        NodeSpec(
            "Add", MERGE, "Element-wise sum of the inputs (broadcasting), e.g. a residual connection",
            inputs=merge_ports, params=(INPUTS,), infer=_elementwise_for("added"), emit=_fold_for(operator.add),
            count_params=lambda ctx: 0, torch_name="torch.add",
        ),
        NodeSpec(
            "Multiply", MERGE, "Element-wise product of the inputs (broadcasting), e.g. gating",
            inputs=merge_ports, params=(INPUTS,), infer=_elementwise_for("multiplied"),
            emit=_fold_for(operator.mul), count_params=lambda ctx: 0, torch_name="torch.mul",
        ),
        NodeSpec(
            "Concat", MERGE, "Join the inputs along one dimension (1 = channels/features)",
            inputs=merge_ports,
            params=(INPUTS, IntParam("dim", 1, "Dimension to join along (1 = first after the batch; -1 = last)",
                                     minimum=-8, maximum=8)),
            infer=_concat_infer, emit=_concat_emit, count_params=lambda ctx: 0,
            aliases=("Concatenate",), torch_name="torch.cat",
        ),
    ]
