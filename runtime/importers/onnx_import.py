"""Open an ONNX file as a LayerLoom graph with its weights: ``import_onnx(path) -> ImportResult``.

The file is loaded, checked (``onnx.checker``) and its shapes inferred (``onnx.shape_inference``, the batch
dimension made symbolic first). Then ``onnx_reader`` walks it in the file's order:

- constants are computed at import time: initializers, ``Constant`` nodes, and whatever is computed from them
  alone (weights stored as ``ConstantOfShape``, a ``Shape`` of a tensor whose size is known but for the batch:
  such values are computed for two batch sizes, and the places that follow the batch are kept as ``"N"``);
- every other operator becomes catalog nodes by the tables of ``onnx_mapping`` (Gemm -> Linear, Conv ->
  Conv2d, ...) with their params set and the initializers as their weights, or, where no catalog node fits,
  an "ONNX operator" node run by ``layerloom.catalog.builtin.onnx_torch``;
- an operator with neither is listed in the report and refused, naming it; the model does not open.

Each LayerLoom wire carries a batch first: the first dimension of every graph input is the batch.
"""

from __future__ import annotations

import os
from pathlib import Path

from layerloom.catalog.builtin.onnx_torch import BATCH
from layerloom.importers.builder import GraphBuilder
from layerloom.importers.onnx_reader import OnnxImporter
from layerloom.importers.report import ImportResult, ModelFileError


def import_onnx(path: str | os.PathLike, *, name: str | None = None) -> ImportResult:
    """The ONNX file at ``path`` as a graph, its weights and the import report. Raises ``ModelImportError``
    naming the file (and the operators) when it cannot be read or mapped."""
    path = Path(path)
    model = read_model(path)
    importer = OnnxImporter(model, GraphBuilder(name or _model_name(path), path.name))
    return importer.run()


def read_model(path: Path):
    """Load, check and infer the shapes of an ONNX model; ``ModelImportError`` naming the file otherwise."""
    import onnx

    if not path.is_file():
        raise ModelFileError(f"{path}: no such file" if not path.exists() else f"{path}: not a file")
    try:
        model = onnx.load(str(path))
    except Exception as exc:  # noqa: BLE001 - protobuf and onnx raise many kinds for a damaged file
        raise ModelFileError(f"{path.name}: not an ONNX model onnx can read ({_first_line(exc)})") from None
    if not model.graph.node:
        raise ModelFileError(f"{path.name}: the model has no operators (is it an ONNX file?)")
    try:
        onnx.checker.check_model(model)
    except Exception as exc:  # noqa: BLE001 - ValidationError and friends
        raise ModelFileError(f"{path.name}: onnx.checker refuses the model: {_first_line(exc)}") from None
    initializers = {init.name for init in model.graph.initializer}
    for value in list(model.graph.input) + list(model.graph.output):
        if value.name in initializers:
            continue
        dims = value.type.tensor_type.shape.dim
        if len(dims):
            dims[0].Clear()
            dims[0].dim_param = BATCH
    del model.graph.value_info[:]
    try:
        model = onnx.shape_inference.infer_shapes(model, check_type=False, strict_mode=False, data_prop=True)
    except Exception as exc:  # noqa: BLE001
        raise ModelFileError(f"{path.name}: onnx.shape_inference fails: {_first_line(exc)}") from None
    return model


def _model_name(path: Path) -> str:
    return path.name[:-5] if path.name.lower().endswith(".onnx") else path.stem


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


__all__ = ["import_onnx", "read_model"]
