"""Open models made elsewhere as LayerLoom graphs with their weights: ONNX files (``import_onnx``) and
PyTorch modules (``torch_fx``), through one ``GraphBuilder`` and one ``ImportReport``.

``builder`` makes the graph (ids from the source's names, weights keyed ``<node id>.<tensor>``), ``placement``
lays it out, ``report`` says per source operator what it became, ``check`` compares an import with
onnxruntime. ONNX: ``onnx_import`` (load, check, infer shapes) hands the model to ``onnx_reader`` (the walk:
inputs, folded constants in ``onnx_values``, outputs), which maps operators with the tables of
``onnx_mapping`` and ``onnx_mapping_shapes`` and keeps the rest as "ONNX operator" nodes. PyTorch: ``torch_fx``
and its ``torch_*`` helpers.

May import: ``layerloom.export``, ``training``, ``compiler``, ``files``, ``model``, ``catalog``, ``core``.
Imported by ``layerloom.cli`` and the editor; the editor imports it only when the user imports a model (it
imports torch and onnx).
"""

from __future__ import annotations

from layerloom.importers.report import ImportReport, ImportResult, ModelImportError

__all__ = ["ImportReport", "ImportResult", "ModelImportError"]
