"""The table from PyTorch layers to catalog nodes: which ``nn.Module`` classes become which LayerLoom node, with
which params and weights (the functions and tensor methods are in ``torch_calls``).

``map_module(module)`` answers for a module that ``torch.fx`` kept whole (every ``torch.nn`` class is a leaf
of the trace). A rule returns a ``Mapped`` (the node type, its params as JSON values, its weights keyed by the
tensor's name inside the node's module, and which fx arguments feed which input port) or raises ``NoMapping``
saying why this configuration has no catalog node.

``constructor_args(module)`` recovers the JSON constructor arguments of a ``torch.nn`` class that has no
catalog node, so that it can be kept as an opaque ``TorchModule`` node; it refuses anything else.

Imports torch: used only while importing a model.
"""

from __future__ import annotations

import inspect
import json
import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable

import torch
from torch import nn

from layerloom.catalog.builtin.torch_module import ALLOWED_VALUE_TYPES, torch_class


class NoMapping(Exception):
    """This module or call, as configured, has no catalog node; the message says why."""


@dataclass
class Mapped:
    """One catalog node for one source module or call."""

    type_id: str
    params: dict[str, Any] = field(default_factory=dict)
    weights: dict[str, torch.Tensor] | None = None
    inputs: list[tuple[Any, str]] = field(default_factory=list)  # (fx argument, input port) in port order
    note: str = ""  # what was approximated or dropped, for the report


def ints(value) -> Any:
    """An int or a tuple of ints as a JSON value (a tuple of equal ints stays a list)."""
    if isinstance(value, (tuple, list, torch.Size)):
        return [int(v) for v in value]
    return int(value) if not isinstance(value, str) else value


def _state(module: nn.Module) -> dict[str, torch.Tensor]:
    return {name: tensor.detach().clone() for name, tensor in module.state_dict().items()}


# ------------------------------------------------------------------------------------- modules
def _linear(m: nn.Linear) -> Mapped:
    return Mapped("Linear", {"out_features": m.out_features, "bias": m.bias is not None}, _state(m))


def _zeros_padding(m) -> None:
    if m.padding_mode != "zeros":
        raise NoMapping(f"padding_mode={m.padding_mode!r} (the catalog's convolutions pad with zeros)")


def _conv(m) -> Mapped:
    _zeros_padding(m)
    params = {"out_channels": m.out_channels, "kernel_size": ints(m.kernel_size), "stride": ints(m.stride),
              "padding": ints(m.padding), "dilation": ints(m.dilation), "groups": m.groups,
              "bias": m.bias is not None}
    return Mapped(rule_class(m).__name__, params, _state(m))


def _conv_transpose(m: nn.ConvTranspose2d) -> Mapped:
    _zeros_padding(m)
    params = {"out_channels": m.out_channels, "kernel_size": ints(m.kernel_size), "stride": ints(m.stride),
              "padding": ints(m.padding), "output_padding": ints(m.output_padding),
              "dilation": ints(m.dilation), "groups": m.groups, "bias": m.bias is not None}
    return Mapped("ConvTranspose2d", params, _state(m))


def _batchnorm(m) -> Mapped:
    if not m.track_running_stats or m.momentum is None:
        raise NoMapping("running statistics off or a cumulative average (momentum=None)")
    params = {"eps": float(m.eps), "momentum": float(m.momentum), "affine": bool(m.affine)}
    return Mapped(rule_class(m).__name__, params, _state(m))


def _layernorm(m: nn.LayerNorm) -> Mapped:
    if m.elementwise_affine and m.bias is None:
        raise NoMapping("a LayerNorm with a scale but no shift (bias=False)")
    params = {"dims": len(m.normalized_shape), "eps": float(m.eps), "elementwise_affine": bool(m.elementwise_affine)}
    return Mapped("LayerNorm", params, _state(m))


def _maxpool(m) -> Mapped:
    if m.return_indices:
        raise NoMapping("return_indices=True")
    params = {"kernel_size": ints(m.kernel_size), "stride": ints(m.stride), "padding": ints(m.padding),
              "dilation": ints(m.dilation), "ceil_mode": bool(m.ceil_mode)}
    return Mapped(rule_class(m).__name__, params)


def _avgpool(m: nn.AvgPool2d) -> Mapped:
    if not m.count_include_pad or m.divisor_override is not None:
        raise NoMapping("count_include_pad=False or a divisor_override")
    params = {"kernel_size": ints(m.kernel_size), "stride": ints(m.stride), "padding": ints(m.padding),
              "ceil_mode": bool(m.ceil_mode)}
    return Mapped("AvgPool2d", params)


def _adaptive_avgpool(m: nn.AdaptiveAvgPool2d) -> Mapped:
    size = m.output_size
    if size is None or (isinstance(size, tuple) and None in size):
        raise NoMapping("an output size that keeps an input dimension (None)")
    return Mapped("AdaptiveAvgPool2d", {"output_size": ints(size)})


def _flatten(m: nn.Flatten) -> Mapped:
    if m.end_dim != -1 or m.start_dim < 1:
        raise NoMapping(f"start_dim={m.start_dim}, end_dim={m.end_dim} (the catalog's Flatten keeps the batch "
                        "and flattens to the end)")
    return Mapped("Flatten", {"start_dim": m.start_dim})


def _embedding(m: nn.Embedding) -> Mapped:
    if m.max_norm is not None or m.scale_grad_by_freq or m.sparse:
        raise NoMapping("max_norm, scale_grad_by_freq or sparse gradients")
    params = {"num_embeddings": m.num_embeddings, "embedding_dim": m.embedding_dim, "padding_idx": m.padding_idx}
    return Mapped("Embedding", params, _state(m))


def _softmax(m) -> Mapped:
    if m.dim is None:
        raise NoMapping("no dim given (PyTorch guesses one)")
    return Mapped(rule_class(m).__name__, {"dim": m.dim})


def _prelu(m: nn.PReLU) -> Mapped:
    params = {"per_channel": m.num_parameters > 1, "init_value": float(m.weight.detach().flatten()[0])}
    return Mapped("PReLU", params, _state(m))


def _transformer_layer(m: nn.TransformerEncoderLayer) -> Mapped:
    if not m.self_attn.batch_first:
        raise NoMapping("batch_first=False (the catalog's layer reads [N, time, features])")
    code = getattr(m, "activation_relu_or_gelu", 0)
    if code not in (1, 2):
        raise NoMapping("an activation other than relu or gelu")
    if m.linear1.bias is None or m.self_attn.in_proj_bias is None:
        raise NoMapping("bias=False")
    params = {"nhead": m.self_attn.num_heads, "dim_feedforward": m.linear1.out_features,
              "dropout": float(m.dropout.p), "activation": "relu" if code == 1 else "gelu",
              "layer_norm_eps": float(m.norm1.eps), "norm_first": bool(m.norm_first)}
    return Mapped("TransformerEncoderLayer", params, _state(m))


def _simple(type_id: str, read: Callable[[nn.Module], dict] = lambda m: {}):
    return lambda m: Mapped(type_id, read(m))


MODULE_RULES: dict[type, Callable[[nn.Module], Mapped]] = {
    nn.Linear: _linear,
    nn.Conv1d: _conv,
    nn.Conv2d: _conv,
    nn.ConvTranspose2d: _conv_transpose,
    nn.BatchNorm1d: _batchnorm,
    nn.BatchNorm2d: _batchnorm,
    nn.LayerNorm: _layernorm,
    nn.Dropout: _simple("Dropout", lambda m: {"p": float(m.p)}),
    nn.MaxPool1d: _maxpool,
    nn.MaxPool2d: _maxpool,
    nn.AvgPool2d: _avgpool,
    nn.AdaptiveAvgPool2d: _adaptive_avgpool,
    nn.Flatten: _flatten,
    nn.Embedding: _embedding,
    nn.ReLU: _simple("ReLU"),
    nn.Sigmoid: _simple("Sigmoid"),
    nn.Tanh: _simple("Tanh"),
    nn.SiLU: _simple("SiLU"),
    nn.LeakyReLU: _simple("LeakyReLU", lambda m: {"negative_slope": float(m.negative_slope)}),
    nn.ELU: _simple("ELU", lambda m: {"alpha": float(m.alpha)}),
    nn.GELU: _simple("GELU", lambda m: {"approximate": m.approximate}),
    nn.Softplus: _simple("Softplus", lambda m: {"beta": float(m.beta), "threshold": float(m.threshold)}),
    nn.Softmax: _softmax,
    nn.LogSoftmax: _softmax,
    nn.PReLU: _prelu,
    nn.TransformerEncoderLayer: _transformer_layer,
}

# Recurrent layers return a tuple; the tracer maps them together with the indexing that follows them.
RECURRENT = (nn.LSTM, nn.GRU)
PASS_THROUGH_MODULES = (nn.Identity,)


# What a subclass of a mapped layer may define and still compute what its base computes.
_HARMLESS = frozenset({"__init__", "extra_repr", "reset_parameters", "__repr__"})


def rule_class(module: nn.Module) -> type | None:
    """The mapped ``torch.nn`` class ``module`` is, or subclasses without changing what it computes (a user's
    ``class MyLinear(nn.Linear)`` that only sets things up in ``__init__``), or one of LayerLoom's own modules;
    None otherwise."""
    if type(module) in own_rules():
        return type(module)
    for base in type(module).__mro__:
        if base in MODULE_RULES or base in RECURRENT:
            below = type(module).__mro__[:type(module).__mro__.index(base)]
            changed = {name for cls in below for name, value in vars(cls).items()
                       if callable(value) and name not in _HARMLESS}
            return None if changed else base
    return None


def map_module(module: nn.Module) -> Mapped:
    """The catalog node for a module kept whole by the trace; ``NoMapping`` when there is none."""
    base = rule_class(module)
    rule = MODULE_RULES.get(base)
    if rule is None:
        raise NoMapping(f"no catalog node for {type(module).__name__}")
    return rule(module)


def recurrent_params(module: nn.Module, output: str) -> Mapped:
    """An ``nn.LSTM``/``nn.GRU`` as the catalog's LSTM/GRU returning ``output`` ("last" or "sequence")."""
    if not module.batch_first:
        raise NoMapping("batch_first=False (the catalog's LSTM and GRU read [N, time, features])")
    if getattr(module, "proj_size", 0):
        raise NoMapping("proj_size (a projected LSTM)")
    params = {"hidden_size": module.hidden_size, "num_layers": module.num_layers,
              "bidirectional": bool(module.bidirectional), "dropout": float(module.dropout), "output": output,
              "bias": bool(module.bias)}
    return Mapped("LSTM" if isinstance(module, nn.LSTM) else "GRU", params, _state(module))


# ------------------------------------------------------------------- LayerLoom's own modules (a compiled graph)
def _own_recurrent(m) -> Mapped:
    return recurrent_params(m, "sequence" if m.return_sequence else "last")


def _own_formula(m) -> Mapped:
    formula = m.formula
    params = {"expression": formula.text, "inputs": len(formula.inputs), "parameters": ", ".join(formula.parameters),
              "parameter_shape": "per_feature" if m.parameter_shape else "scalar"}
    return Mapped("Formula", params, _state(m), inputs=list(enumerate(formula.inputs)))


def _own_onnx_operator(m) -> Mapped:
    from layerloom.catalog.builtin.onnx_op import TYPE_ID

    ports = [entry for entry in m.operands if isinstance(entry, str)]
    params = {"op_type": m.op_type, "attributes": json.dumps(m.attributes), "operands": json.dumps(m.operands),
              "output": m.output}
    return Mapped(TYPE_ID, params, _state(m), inputs=list(enumerate(ports)))


@lru_cache(maxsize=1)
def own_rules() -> dict[type, Callable[[nn.Module], Mapped]]:
    """Rules for the modules LayerLoom builds itself (an imported compiled graph comes back as the same nodes);
    a rule's ``inputs`` are (argument index, port) pairs."""
    from layerloom.catalog import formula_parser
    from layerloom.catalog.builtin import modules
    from layerloom.catalog.builtin.onnx_torch import OnnxOperator

    return {modules.LSTM: _own_recurrent, modules.GRU: _own_recurrent,
            formula_parser.FormulaModule: _own_formula, OnnxOperator: _own_onnx_operator}


# ------------------------------------------------------------------------------ opaque modules
CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict, nn.ParameterList, nn.ParameterDict)


def _json_value(value: Any) -> Any:
    if isinstance(value, (tuple, list, torch.Size)):
        return [_json_value(v) for v in value]
    if value is None or isinstance(value, ALLOWED_VALUE_TYPES):
        if isinstance(value, float) and not math.isfinite(value):
            raise NoMapping(f"a non-finite number {value!r}")
        return value
    raise NoMapping(f"a value of type {type(value).__name__}")


def constructor_args(module: nn.Module) -> dict[str, Any]:
    """The JSON constructor arguments that rebuild ``module`` (a ``torch.nn`` class), read from its
    attributes and checked by rebuilding it: same ``extra_repr``, same tensors and shapes. Raises
    ``NoMapping`` saying why when they cannot be recovered or the class is not a plain ``torch.nn`` layer."""
    cls = type(module)
    name = cls.__name__
    if torch_class(name) is not cls or isinstance(module, CONTAINERS):
        raise NoMapping(f"{cls.__module__}.{cls.__qualname__} is not a torch.nn layer")
    signature = inspect.signature(cls.__init__)
    kwargs: dict[str, Any] = {}
    for pname, p in list(signature.parameters.items())[1:]:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or pname in ("device", "dtype"):
            continue
        if not hasattr(module, pname):
            if p.default is p.empty:
                raise NoMapping(f"its argument {pname!r} is not kept on the module")
            continue
        value = getattr(module, pname)
        if isinstance(p.default, bool) and (value is None or isinstance(value, torch.Tensor)):
            value = value is not None  # bias=True/False is kept as a Parameter or None
        if isinstance(value, (torch.Tensor, nn.Module)) or callable(value):
            raise NoMapping(f"its argument {pname!r} is a {type(value).__name__}")
        kwargs[pname] = _json_value(value)
    try:
        rebuilt = cls(**kwargs)
    except Exception as exc:  # noqa: BLE001 - any refusal of the recovered arguments
        raise NoMapping(f"rebuilding it from {json.dumps(kwargs)} fails: {exc}") from None
    theirs = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    ours = {k: tuple(v.shape) for k, v in rebuilt.state_dict().items()}
    if rebuilt.extra_repr() != module.extra_repr() or theirs != ours:
        raise NoMapping("its constructor arguments cannot be read back from its attributes")
    return kwargs


def opaque(module: nn.Module) -> Mapped:
    """``module`` kept as a ``TorchModule`` node that rebuilds its class from JSON arguments."""
    kwargs = constructor_args(module)
    params = {"module": type(module).__name__, "arguments": json.dumps(kwargs, sort_keys=True)}
    return Mapped("TorchModule", params, _state(module))


__all__ = ["Mapped", "NoMapping", "MODULE_RULES", "RECURRENT", "map_module", "rule_class", "recurrent_params",
           "own_rules", "constructor_args", "opaque", "torch_class"]
