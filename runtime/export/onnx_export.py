"""ONNX export of the model part of a graph (Inputs to Outputs, no losses).

One self-contained file: named inputs and outputs from the graph's Input/Output nodes, a dynamic
batch dimension, and LayerLoom's facts in the model's metadata (``layerloom.graph``,
``layerloom.classes``, ``layerloom.preprocessing``, ``layerloom.run``, ``layerloom.version``) so the
file explains itself to whoever deploys it.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import re
import warnings
from pathlib import Path

import torch

from .. import __version__
from ..atomic import atomic_write
from .defaults import DEFAULT_OPSET, MIN_OPSET
from .source import Exportable, ExportError


@contextlib.contextmanager
def _quiet_exporter():
    """torch.onnx prints progress, 'torchvision is not installed' warnings and, when a model cannot be
    captured, pages of tracer logs: keep the console clean (the error itself is reported)."""
    names = [name for name in logging.root.manager.loggerDict if name == "torch" or name.startswith("torch.")]
    loggers = [logging.getLogger(name) for name in names + ["onnxscript"]]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
                contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def onnx_bytes(exportable: Exportable, opset: int = DEFAULT_OPSET) -> bytes:
    """The serialized ONNX model with LayerLoom's metadata. Raises ``ExportError`` naming the node
    that cannot be exported."""
    if not MIN_OPSET <= opset <= 23:
        raise ExportError(f"opset {opset} is not supported: choose one from {MIN_OPSET} to 23 (default {DEFAULT_OPSET})")
    model = exportable.model.eval()
    compiled = exportable.compiled
    inputs = exportable.example_inputs(2)
    batch = torch.export.Dim("batch", min=1)
    try:
        with _quiet_exporter():
            program = torch.onnx.export(
                model, inputs, input_names=compiled.input_names, output_names=compiled.output_names,
                opset_version=opset, dynamo=True, external_data=False, verbose=False,
                dynamic_shapes=tuple({0: batch} for _ in inputs))
    except Exception as exc:  # noqa: BLE001 - find the node to blame
        raise ExportError(_blame(exportable, exc, opset)) from exc
    proto = program.model_proto
    meta = exportable.metadata()
    entries = {
        "layerloom.version": __version__,
        "layerloom.graph": json.dumps(meta["graph"], separators=(",", ":")),
        "layerloom.inputs": json.dumps(meta["inputs"]),
        "layerloom.outputs": json.dumps(meta["outputs"]),
    }
    if meta["classes"]:
        entries["layerloom.classes"] = json.dumps(meta["classes"])
    if meta["preprocessing"]:
        entries["layerloom.preprocessing"] = json.dumps(meta["preprocessing"])
    if meta["run"]:
        entries["layerloom.run"] = json.dumps(meta["run"], default=str)
    for key, value in entries.items():
        prop = proto.metadata_props.add()
        prop.key, prop.value = key, value
    proto.producer_name = "LayerLoom"
    proto.producer_version = __version__
    proto.doc_string = exportable.graph.description or exportable.name
    return proto.SerializeToString()


def export_onnx(exportable: Exportable, path: str | os.PathLike, opset: int = DEFAULT_OPSET) -> Path:
    data = onnx_bytes(exportable, opset)
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return atomic_write(path, data)
    except OSError as exc:
        raise ExportError(f"{path}: cannot write: {exc.strerror or exc}") from None


def read_metadata(path: str | os.PathLike) -> dict[str, object]:
    """The ``layerloom.*`` metadata of an exported file, decoded."""
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    out: dict[str, object] = {}
    for prop in proto.metadata_props:
        if prop.key.startswith("layerloom."):
            key = prop.key[len("layerloom."):]
            out[key] = prop.value if key == "version" else json.loads(prop.value)
    return out


def _blame(exportable: Exportable, exc: Exception, opset: int) -> str:
    """Export each layer alone to find the first that fails; the message names it and the reason."""
    compiled, graph = exportable.compiled, exportable.graph
    infos = compiled.analysis.nodes if compiled.analysis else {}
    by_name = {name: nid for nid, name in compiled.module_names.items()}
    reason = _first_line(exc)
    for name, module in compiled.model.named_children():
        node_id = by_name.get(name)
        info = infos.get(node_id)
        if info is None or not info.inputs or any(spec is None for spec in info.inputs.values()):
            continue
        from ..compiler import random_tensor
        args = tuple(random_tensor(spec, 2) for spec in info.inputs.values())
        try:
            with _quiet_exporter():
                torch.onnx.export(module.eval(), args, opset_version=opset, dynamo=True, external_data=False,
                                  verbose=False)
        except Exception as inner:  # noqa: BLE001
            node = graph.node(node_id)
            return f"{node.label()} cannot be exported to ONNX (opset {opset}): {_first_line(inner)}"
    return f"the model cannot be exported to ONNX (opset {opset}): {reason}"


def _first_line(exc: BaseException) -> str:
    """The root cause in one line (the exporter wraps it in pages of advice and colour codes)."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    text = [line for line in re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip().splitlines() if line.strip()]
    return f"{type(exc).__name__}: {text[0].strip() if text else ''}"[:300]
