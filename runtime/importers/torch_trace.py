"""Running a PyTorch model for import: ``trace`` (torch.fx, naming the module, class and line that cannot be
traced), ``propagate_shapes`` (the example input through the traced model once, leaving the model's modes and
statistics as they were) and ``check_outputs`` (the imported graph, compiled with its weights, must give the
model's outputs). ``user_frame`` finds the user's line in a traceback.

Imports torch: used only while importing a model.
"""

from __future__ import annotations

import inspect
import os
import traceback
from typing import Any

import torch
from torch import fx, nn
from torch.fx.passes.shape_prop import ShapeProp

from layerloom.importers.report import ImportResult, ModelImportError
from layerloom.importers.torch_calls import DROPOUT_ALWAYS
from layerloom.importers.torch_table import rule_class

_TORCH_DIR = os.path.dirname(torch.__file__)


# ------------------------------------------------------------------------------------ tracing
class _Tracer(fx.Tracer):
    """``fx.Tracer`` that remembers which module it was inside when tracing failed."""

    def __init__(self):
        super().__init__()
        self.stack: list[tuple[str, type]] = []
        self.failed_in: list[tuple[str, type]] | None = None

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        """torch.nn's layers, and a user's subclass of a mapped layer that computes what its base does."""
        return super().is_leaf_module(m, module_qualified_name) or rule_class(m) is not None

    def call_module(self, m, forward, args, kwargs):
        self.stack.append((self.path_of_module(m), type(m)))
        try:
            return super().call_module(m, forward, args, kwargs)
        except Exception:
            if self.failed_in is None:
                self.failed_in = list(self.stack)
            raise
        finally:
            self.stack.pop()


def user_frame(exc: BaseException, skip_dirs: tuple[str, ...] = (_TORCH_DIR,)) -> tuple[str, int] | None:
    """The innermost frame of ``exc``'s traceback outside torch (and ``skip_dirs``): the user's line."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    found = None
    for frame in traceback.extract_tb(exc.__traceback__):
        path = os.path.abspath(frame.filename)
        if path.startswith(skip_dirs) or path.startswith(here) or frame.filename.startswith("<"):
            continue
        found = (frame.filename, frame.lineno)
    return found


def where_text(place: tuple[str, int] | None) -> str:
    return f"{os.path.basename(place[0])} line {place[1]}" if place else ""


def _fixed_arguments(model: nn.Module, given: int) -> dict[str, Any]:
    """``forward``'s arguments after the ``given`` examples that have defaults (``mask=None``): traced with
    their default values."""
    try:
        parameters = list(inspect.signature(model.forward).parameters.values())
    except (TypeError, ValueError):
        return {}
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    return {p.name: p.default for p in positional[given:] if p.default is not p.empty}


def trace(model: nn.Module, source: str, given: int = 1) -> fx.GraphModule:
    """``model`` as a ``GraphModule`` (``forward``'s arguments after the first ``given`` take their defaults);
    ``ModelImportError`` naming the module, its class and the line when it cannot be traced (data-dependent
    control flow, calls torch.fx cannot follow)."""
    tracer = _Tracer()
    modes = {m: m.training for m in model.modules()}
    try:
        model.eval()  # so F.dropout(x, training=self.training) is told apart from an F.dropout that always drops
        graph = tracer.trace(model, concrete_args=_fixed_arguments(model, given) or None)
    except Exception as exc:  # noqa: BLE001 - any failure inside the user's forward
        inside = tracer.failed_in or []
        who = (f"module {inside[-1][0]!r} ({inside[-1][1].__name__})" if inside
               else f"{type(model).__name__}.forward")
        line = where_text(user_frame(exc))
        raise ModelImportError(
            f"{source}: cannot trace {who}" + (f" at {line}" if line else "") + f": {type(exc).__name__}: {exc}. "
            "torch.fx follows the code once with symbolic values, so forward() cannot branch or loop on tensor "
            "values; rewrite that part or pass a model without it") from None
    finally:
        for m, training in modes.items():
            m.training = training
    return fx.GraphModule(tracer.root, graph, type(model).__name__)


def propagate_shapes(gm: fx.GraphModule, examples: tuple[torch.Tensor, ...], source: str) -> None:
    """Run the example through ``gm`` once (eval mode, no gradients, modes restored), recording each
    value's shape in ``node.meta['tensor_meta']``."""
    modes = {m: m.training for m in gm.modules()}
    try:
        gm.eval()
        with torch.no_grad():
            ShapeProp(gm).propagate(*examples)
    except Exception as exc:  # noqa: BLE001 - the model refusing the example, in torch's words
        line = where_text(user_frame(exc))
        raise ModelImportError(f"{source}: the example input does not run through the model"
                               + (f" ({line})" if line else "") + f": {type(exc).__name__}: {exc}") from None
    finally:
        for m, training in modes.items():
            m.training = training


def check_outputs(result: ImportResult, model: nn.Module, examples: tuple[torch.Tensor, ...]) -> float:
    """Compile the imported graph with its weights and compare its outputs with ``model``'s on ``examples``
    (both in eval mode); ``ModelImportError`` when they differ. Returns the largest difference, noted in the
    report."""
    from layerloom.compiler import compile_graph
    from layerloom.training.start_weights import fit_weights

    compiled = compile_graph(result.graph)
    fit = fit_weights(compiled.model, result.weights, result.report.source)
    if not fit.complete:
        raise ModelImportError("; ".join(fit.lines()), result.report)
    modes = {m: m.training for m in model.modules()}
    try:
        model.eval()
        compiled.model.eval()
        with torch.no_grad():
            theirs = model(*examples)
            ours = compiled.model(*examples)
    finally:
        for m, training in modes.items():
            m.training = training
    theirs = _flat(theirs)
    ours = _flat(ours)
    # The compiled module returns its outputs in dependency order; the model, in the order of its Outputs.
    position = {endpoint.node_id: i for i, endpoint in enumerate(compiled.outputs)}
    wanted = [node.id for node in result.graph if node.id in position]
    if len(ours) == len(wanted):
        ours = [ours[position[node_id]] for node_id in wanted]
    if len(theirs) != len(ours):
        raise ModelImportError(f"the imported graph returns {len(ours)} tensors, the model {len(theirs)}",
                               result.report)
    worst = 0.0
    for a, b in zip(theirs, ours):
        if tuple(a.shape) != tuple(b.shape):
            raise ModelImportError(f"the imported graph returns shape {list(b.shape)} where the model returns "
                                   f"{list(a.shape)}", result.report)
        worst = max(worst, float((a.double() - b.double()).abs().max()) if a.numel() else 0.0)
        scale = float(a.double().abs().max()) if a.numel() else 0.0
        if not worst <= 1e-4 * max(1.0, scale):
            hint = f" ({DROPOUT_ALWAYS})" if any(
                DROPOUT_ALWAYS in line for line in result.report.lines()) else ""
            raise ModelImportError(f"the imported graph's outputs differ from the model's by {worst:.3g}{hint}",
                                   result.report)
    result.report.note(f"checked: the graph gives the model's outputs on the example input "
                       f"(largest difference {worst:.1e})")
    return worst


def _flat(value) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, dict):
        return [v for v in value.values()]
    return [v for v in value]


__all__ = ["trace", "propagate_shapes", "check_outputs", "user_frame", "where_text"]
