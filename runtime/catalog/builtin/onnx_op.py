"""The "ONNX operator" node: an operator of an imported ONNX model that has no catalog node of its own
(a Transpose, a Gather, a Resize...), kept as it was and run in PyTorch (``onnx_torch``), so that every
imported model opens, trains and exports.

Its params are the ONNX op type, its attributes (a JSON object) and its operands (a JSON list, one entry per
ONNX input in order): a port name (``"in1"``: a wire), a small constant kept in the params
(``{"const": [0, 2, 1], "dtype": "int64"}``; ``"N"`` in it stands for the batch size), a tensor kept as a
buffer in the node's weights (``{"buffer": "c0", "shape": [64, 1, 1], "dtype": "float32"}``), or null (an
optional input left out). ``output`` picks which of the op's outputs the node returns. Shapes are inferred by
running the op on zeros for two batch sizes (the meta device would need no data, but its first use costs
seconds of imports).
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from layerloom.core.errors import ShapeError
from layerloom.core.params import IntParam, StrParam
from layerloom.core.shapes import BATCH, FLOAT, INT, TensorSpec
from layerloom.catalog.spec import NodeSpec, Port
from layerloom.catalog.builtin._common import ONNX

TYPE_ID = "ONNX operator"
MAX_PORTS = 16
FLOAT_DTYPES = ("float32", "float64", "float16", "bfloat16")


def _json(text: str, kind: type, what: str) -> Any:
    try:
        value = json.loads(text or ("{}" if kind is dict else "[]"))
    except ValueError as exc:
        raise ShapeError(f"{what} is not JSON: {exc}", param=what) from None
    if not isinstance(value, kind):
        raise ShapeError(f"{what} must be a JSON {'object' if kind is dict else 'list'}", param=what)
    return value


@lru_cache(maxsize=256)
def parse_operands(text: str) -> tuple:
    """The operands as a tuple of entries (port names, constant or buffer dicts, None); ShapeError if malformed."""
    entries = _json(text, list, "operands")
    for entry in entries:
        if entry is None or (isinstance(entry, str) and entry.startswith("in")):
            continue
        if isinstance(entry, dict) and ("const" in entry or
                                        ("buffer" in entry and isinstance(entry.get("shape"), list))):
            continue
        raise ShapeError(f"operand {entry!r} is neither a port name, a constant nor a buffer", param="operands")
    return tuple(json.dumps(e) if isinstance(e, dict) else e for e in entries)


def _ports(params) -> tuple[Port, ...]:
    try:
        names = [e for e in parse_operands(params.get("operands", "[]")) if isinstance(e, str)
                 and not e.startswith("{")]
    except (ShapeError, TypeError):
        names = []
    return _port_tuple(tuple(names[:MAX_PORTS]) or ("in",))


@lru_cache(maxsize=64)
def _port_tuple(names: tuple[str, ...]) -> tuple[Port, ...]:
    return tuple(Port(name) for name in names)


def _spec_of(tensor, batch_dims: set[int]) -> TensorSpec:
    shape = tuple(BATCH if i in batch_dims else int(d) for i, d in enumerate(tensor.shape))
    name = str(tensor.dtype).replace("torch.", "")
    return TensorSpec(shape, FLOAT if name in FLOAT_DTYPES else INT)


def _infer(ctx) -> TensorSpec:
    import torch

    from layerloom.catalog.builtin.onnx_torch import supported

    op_type = ctx["op_type"]
    if not supported(op_type):
        raise ShapeError(f"LayerLoom cannot run the ONNX operator {op_type!r} (no PyTorch implementation)",
                         param="op_type")
    specs_in = [ctx.input(port.name) for port in ctx.spec.input_ports(ctx.params)]   # every port wired
    shapes = []
    module = _module(ctx)
    for batch in (2, 3):
        inputs = [torch.zeros(spec.concrete(batch), dtype=torch.float32 if spec.is_float else torch.int64)
                  for spec in specs_in]
        try:
            with torch.no_grad():
                out = module(*inputs)
        except ShapeError:
            raise
        except Exception as exc:  # noqa: BLE001 - the op refuses these shapes: say what it said
            text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ShapeError(f"ONNX {op_type} cannot run on these inputs: {text}") from None
        shapes.append(out)
    a, b = shapes
    if a.dim() != b.dim() or a.dim() == 0:
        raise ShapeError(f"ONNX {op_type} returns a tensor without a batch dimension ({list(a.shape)}); "
                         "LayerLoom wires carry batches")
    batch_dims = {i for i, (x, y) in enumerate(zip(a.shape, b.shape)) if (x, y) == (2, 3)}
    fixed = [i for i, (x, y) in enumerate(zip(a.shape, b.shape)) if x != y and i not in batch_dims]
    if batch_dims != {0} or fixed:
        raise ShapeError(f"ONNX {op_type} returns {list(a.shape)} for a batch of 2 and {list(b.shape)} for 3: "
                         "the batch is not its first dimension")
    return _spec_of(a, batch_dims)


def _module(ctx, device=None):
    from layerloom.catalog.builtin.onnx_torch import OnnxOperator

    attributes = _json(ctx["attributes"], dict, "attributes")
    operands = [json.loads(e) if isinstance(e, str) and e.startswith("{") else e
                for e in parse_operands(ctx["operands"])]
    return OnnxOperator(ctx["op_type"], attributes, operands, ctx["output"], device=device)


def specs():
    return [
        NodeSpec(
            TYPE_ID, ONNX,
            "An operator of an imported ONNX model with no node of its own, run in PyTorch as ONNX defines it",
            inputs=_ports,
            subtitle=lambda params: f"ONNX {params.get('op_type', 'Identity')}",
            params=(
                StrParam("op_type", "Identity", "The ONNX operator type, e.g. Transpose", max_length=64,
                         example="Transpose"),
                StrParam("attributes", "{}", "The operator's attributes as a JSON object", max_length=100_000,
                         example='{"perm": [0, 2, 1]}'),
                StrParam("operands", '["in"]', "The operator's inputs in order, as a JSON list: a port name, "
                         "a constant {\"const\": ...} or a buffer {\"buffer\": \"c0\", \"shape\": [...]}",
                         max_length=100_000, example='["in", {"const": [0, 2, 1], "dtype": "int64"}]'),
                IntParam("output", 0, "Which of the operator's outputs this node returns (0 = the first)",
                         minimum=0, maximum=15),
            ),
            infer=_infer, build=lambda ctx: _module(ctx), count_params=lambda ctx: 0,
            aliases=("ONNXOperator",), torch_name="torch.nn.Module",
        ),
    ]
