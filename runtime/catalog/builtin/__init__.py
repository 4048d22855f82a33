"""The built-in node types, one module per palette family (``io``, ``layers``, ``sequence``, ``merges``,
``activations``, ``formula``, ``losses``; ``onnx_op``: the operators of imported ONNX models, run by
``onnx_torch``; ``torch_module``: torch.nn layers of imported PyTorch models with no node of their own), their
own ``nn.Module``s (``modules``) and shared helpers (``_common``). ``builtin_specs()`` lists them in palette
order.

May import: ``layerloom.core`` and the rest of ``layerloom.catalog``; torch only lazily, when a node is built.
"""

from __future__ import annotations

from layerloom.catalog.builtin import (activations, formula, io, layers, losses, merges, onnx_op, sequence,
                                       torch_module)
from layerloom.catalog.builtin._common import CATEGORIES


def builtin_specs():
    specs = []
    for module in (io, layers, sequence, merges, activations, formula, losses, onnx_op, torch_module):
        specs.extend(module.specs())
    order = {name: i for i, name in enumerate(CATEGORIES)}
    return sorted(specs, key=lambda s: order.get(s.category, len(order)))


__all__ = ["builtin_specs", "CATEGORIES"]
