"""TorchModule: an imported ``torch.nn`` layer that has no catalog node of its own, kept as it was.

The node names a class of the ``torch.nn`` namespace (``"Dropout2d"``, ``"Hardswish"``) and its constructor
arguments as a JSON object (``{"p": 0.2}``); building it is ``getattr(torch.nn, name)(**arguments)``. Nothing
else can be named: not a module path, not a user's class, not a container, so a graph file never makes
LayerLoom import or run code of its choosing. Shapes and parameter counts come from building the layer on
PyTorch's meta device (no memory, no compute), which imports torch when such a node is first checked.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from functools import lru_cache

from layerloom.core.errors import ShapeError
from layerloom.core.params import StrParam
from layerloom.core.shapes import DTYPES, TensorSpec
from layerloom.catalog.spec import NodeSpec

IMPORTED = "Imported"
NAME = re.compile(r"[A-Z][A-Za-z0-9_]{0,63}\Z")
ALLOWED_VALUE_TYPES = (bool, int, float, str)
MAX_ARGUMENTS = 2000  # characters of JSON
MAX_VALUES = 2**31 - 1  # parameters and buffers of one layer: more is a typo that would exhaust memory
# torch.nn names that are not layers one input flows through.
NOT_LAYERS = frozenset({"Module", "Sequential", "ModuleList", "ModuleDict", "ParameterList", "ParameterDict",
                        "Parameter", "UninitializedParameter", "UninitializedBuffer", "Buffer", "Container"})


def torch_class(name: str):
    """The ``torch.nn`` layer class called ``name``, or None: only ``nn.Module`` subclasses defined in
    ``torch.nn``'s own modules are accepted."""
    if not isinstance(name, str) or not NAME.match(name) or name in NOT_LAYERS:
        return None
    from torch import nn

    cls = getattr(nn, name, None)
    if not isinstance(cls, type) or not issubclass(cls, nn.Module):
        return None
    if not (cls.__module__ or "").startswith("torch.nn.modules."):
        return None
    return cls


def _plain(value) -> bool:
    if isinstance(value, list):
        return len(value) <= 64 and all(_plain(v) for v in value)
    if isinstance(value, float):
        return math.isfinite(value)
    return value is None or isinstance(value, ALLOWED_VALUE_TYPES)


def parse_arguments(text: str) -> dict:
    """The JSON object of constructor arguments; ``ValueError`` saying what is wrong."""
    try:
        value = json.loads(text or "{}")
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc.msg} at column {exc.colno}") from None
    if not isinstance(value, dict):
        raise ValueError("expected a JSON object such as {\"p\": 0.2}")
    for key, item in value.items():
        if not key.isidentifier() or not _plain(item):
            raise ValueError(f"argument {key!r}: only numbers, text, true/false, null and lists of them")
    return value


@dataclass(frozen=True)
class ClassNameParam(StrParam):
    """The name of a ``torch.nn`` class (checked for its form here, for existence when built)."""

    def _coerce(self, value):
        text = super()._coerce(value)
        if not NAME.match(text) or text in NOT_LAYERS:
            raise self.fail("the name of a torch.nn layer class, e.g. Dropout2d")
        return text


@dataclass(frozen=True)
class ArgumentsParam(StrParam):
    """Constructor arguments as JSON text."""

    def _coerce(self, value):
        text = super()._coerce(value)
        try:
            parse_arguments(text)
        except ValueError as exc:
            raise self.fail(str(exc)) from None
        return text


PARAMS = (
    ClassNameParam("module", "Identity", "The torch.nn class this node builds", max_length=64, example="Dropout2d"),
    ArgumentsParam("arguments", "{}", "Its constructor arguments as a JSON object", max_length=MAX_ARGUMENTS,
                   example='{"p": 0.2}'),
)


def _make(name: str, arguments: str):
    cls = torch_class(name)
    if cls is None:
        raise ShapeError(f"torch.nn has no layer class {name!r}", param="module")
    try:
        kwargs = parse_arguments(arguments)
    except ValueError as exc:
        raise ShapeError(f"arguments: {exc}", param="arguments") from None
    try:
        return cls(**kwargs)
    except Exception as exc:  # noqa: BLE001 - torch's refusal of the arguments, in its words
        raise ShapeError(f"torch.nn.{name}({_text(kwargs)}) fails: {exc}", param="arguments") from None


def _text(kwargs: dict) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in kwargs.items())


@lru_cache(maxsize=256)
def _meta_run(name: str, arguments: str, shape: tuple, dtype: str) -> tuple[tuple, str, int]:
    """The output shape (batch first) and dtype of the layer on a meta tensor, and its parameter count."""
    import torch

    with torch.device("meta"):
        module = _make(name, arguments)
    count = sum(p.numel() for p in module.parameters())
    if count + sum(b.numel() for b in module.buffers()) > MAX_VALUES:
        raise ShapeError(f"torch.nn.{name} with these arguments holds more than {MAX_VALUES:,} values",
                         param="arguments")
    batch = 2
    x = torch.empty((batch,) + shape, dtype=getattr(torch, dtype), device="meta")
    try:
        module.eval()
        out = module(x)
    except Exception as exc:  # noqa: BLE001 - the layer refusing this input, in torch's words
        raise ShapeError(f"torch.nn.{name} cannot take [N, {', '.join(map(str, shape))}]: {exc}", "in") from None
    if not isinstance(out, torch.Tensor):
        raise ShapeError(f"torch.nn.{name} returns a {type(out).__name__}, not one tensor", "in")
    dtype_out = str(out.dtype).removeprefix("torch.")
    if dtype_out not in DTYPES:
        raise ShapeError(f"torch.nn.{name} returns {dtype_out} values", "in")
    return tuple(out.shape[1:]), dtype_out, count


def _concrete(ctx) -> tuple:
    x = ctx.input()
    rest = tuple(x.shape[1:])
    if not all(isinstance(d, int) for d in rest):
        raise ShapeError("needs a known size in every dimension but the batch", "in")
    return rest, x.dtype


def _infer(ctx):
    rest, dtype = _concrete(ctx)
    shape, dtype_out, _ = _meta_run(ctx["module"], ctx["arguments"], rest, dtype)
    return TensorSpec(("N",) + shape, dtype_out)


def _count(ctx) -> int:
    rest, dtype = _concrete(ctx)
    return _meta_run(ctx["module"], ctx["arguments"], rest, dtype)[2]


def _build(ctx):
    return _make(ctx["module"], ctx["arguments"])


def specs():
    return [
        NodeSpec(
            "TorchModule", IMPORTED,
            "A torch.nn layer kept as it was imported (a class of torch.nn and its arguments as JSON)",
            params=PARAMS, infer=_infer, build=_build, count_params=_count, torch_name="torch.nn.Module",
            subtitle=lambda params: f"torch.nn.{params.get('module', 'Identity')}",
        ),
    ]
