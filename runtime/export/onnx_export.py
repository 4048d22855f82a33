"""ONNX export of the model part of a graph (Inputs to Outputs, no losses).

One self-contained file: named inputs and outputs from the graph's Input/Output nodes, a dynamic
batch dimension, and LayerLoom's facts in the model's metadata (``layerloom.graph``,
``layerloom.classes``, ``layerloom.preprocessing``, ``layerloom.input_expects``, ``layerloom.exporter``,
``layerloom.run``, ``layerloom.version``) so the file explains itself to whoever deploys it.

By default (``raw_inputs=True``) the file takes raw samples, in the dataset's own units (0..16 for
the 8x8 digits), and applies the training's scaling itself as ONNX operators before the network:
the answers are the app's. ``raw_inputs=False`` writes the network alone, which takes inputs already
scaled as ``layerloom.preprocessing`` says.

Two exporters: the TorchScript-based one (``torch.onnx.export(..., dynamo=False)``, about 50x faster)
and the dynamo one. ``export_and_verify`` tries the fast one first and keeps its file only when it
passes the whole verification (and its tracer saw no data-dependent branch); else the dynamo
exporter makes the file. The file's ``layerloom.exporter`` says which did.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch

from layerloom import __version__
from layerloom.core.atomic import atomic_write
from layerloom.export.defaults import DEFAULT_OPSET, DEFAULT_TOLERANCE, MIN_OPSET
from layerloom.export.preprocessing import RAW, SCALED, ScalingError, scaling_constants
from layerloom.export.source import Exportable, ExportError

EXPORTERS = ("torchscript", "dynamo")
EXPORTER_NAMES = {"torchscript": "the TorchScript-based exporter (torch.onnx, dynamo=False)",
                  "dynamo": "the dynamo exporter (torch.onnx, dynamo=True)"}


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


class RawInputs(torch.nn.Module):
    """The network with the training's scaling in front: takes raw samples as its first input."""

    def __init__(self, model: torch.nn.Module, offset, spread):
        super().__init__()
        self.model = model
        self.register_buffer("offset", torch.from_numpy(offset))
        self.register_buffer("spread", torch.from_numpy(spread))

    def forward(self, x, *rest):
        return self.model((x - self.offset) / self.spread, *rest)


def input_expects(exportable: Exportable, raw_inputs: bool = True) -> str:
    """``"raw"`` when the exported model takes raw samples (it scales them itself, or no scaling was
    recorded), ``"scaled"`` when it takes inputs already scaled."""
    return RAW if raw_inputs else SCALED


def exported_module(exportable: Exportable, raw_inputs: bool = True) -> torch.nn.Module:
    """What is exported: the network, behind the scaling when the file is to take raw samples."""
    model = exportable.model.eval()
    if not raw_inputs:
        return model
    inputs = exportable.compiled.inputs
    try:
        constants = scaling_constants(exportable.scaling, inputs[0].spec.features) if inputs else None
    except ScalingError as exc:
        raise ExportError(f"the input preprocessing cannot be put in the model: {exc}") from None
    if constants is None:
        return model
    if len(inputs) != 1 or not inputs[0].spec.is_float:
        raise ExportError("the input preprocessing can only go into a model with one float Input; "
                          "export with inputs already scaled instead")
    return RawInputs(model, *constants).eval()


def onnx_bytes(exportable: Exportable, opset: int = DEFAULT_OPSET, *, raw_inputs: bool = True,
               exporter: str = "dynamo") -> bytes:
    """The serialized ONNX model with LayerLoom's metadata, made by ``exporter`` ("torchscript" or
    "dynamo"). Raises ``ExportError`` naming the node that cannot be exported (the dynamo exporter
    finds it), or why the TorchScript exporter refused."""
    if not MIN_OPSET <= opset <= 23:
        raise ExportError(f"opset {opset} is not supported: choose one from {MIN_OPSET} to 23 "
                          f"(default {DEFAULT_OPSET})")
    if exporter not in EXPORTERS:
        raise ExportError(f"unknown exporter {exporter!r}: use {' or '.join(EXPORTERS)}")
    module = exported_module(exportable, raw_inputs)
    if exporter == "torchscript":
        proto = _torchscript_export(exportable, module, opset)
    else:
        proto = _dynamo_export(exportable, module, opset)
    meta = exportable.metadata()
    entries = {
        "layerloom.version": __version__,
        "layerloom.graph": json.dumps(meta["graph"], separators=(",", ":")),
        "layerloom.inputs": json.dumps(meta["inputs"]),
        "layerloom.outputs": json.dumps(meta["outputs"]),
        "layerloom.input_expects": json.dumps(input_expects(exportable, raw_inputs)),
        "layerloom.exporter": json.dumps(exporter),
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


def _dynamo_export(exportable: Exportable, module: torch.nn.Module, opset: int):
    compiled = exportable.compiled
    inputs = exportable.example_inputs(2)
    batch = torch.export.Dim("batch", min=1)
    try:
        with _quiet_exporter():
            program = torch.onnx.export(
                module, inputs, input_names=compiled.input_names, output_names=compiled.output_names,
                opset_version=opset, dynamo=True, external_data=False, verbose=False,
                dynamic_shapes=tuple({0: batch} for _ in inputs))
    except Exception as exc:  # noqa: BLE001 - find the node to blame
        raise ExportError(_blame(exportable, exc, opset)) from exc
    return program.model_proto


def _torchscript_export(exportable: Exportable, module: torch.nn.Module, opset: int):
    """The TorchScript-based exporter traces one call: refused when the tracer warns that the trace
    may not hold for other inputs (a branch on tensor values), or when it fails."""
    import onnx

    compiled = exportable.compiled
    buffer = io.BytesIO()
    names = list(compiled.input_names) + list(compiled.output_names)
    try:
        with _quiet_exporter(), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.onnx.export(module, exportable.example_inputs(2), buffer, input_names=compiled.input_names,
                              output_names=compiled.output_names, opset_version=opset, dynamo=False,
                              dynamic_axes={name: {0: "batch"} for name in names})
    except Exception as exc:  # noqa: BLE001 - the caller falls back to the dynamo exporter
        raise ExportError(f"the TorchScript exporter failed: {_first_line(exc)}") from exc
    traced = [w for w in caught if issubclass(w.category, torch.jit.TracerWarning)]
    if traced:
        first = traced[0]
        sentence = str(first.message).split(". ")[0].splitlines()[0][:160]
        raise ExportError(f"its trace may not fit other inputs ({sentence}, at {Path(first.filename).name}:"
                          f"{first.lineno})")
    return onnx.load_model_from_string(buffer.getvalue())


def warm_exporter() -> None:
    """Pay the exporters' one-time start-up cost (imports, the first trace) on a tiny module."""
    with _quiet_exporter():
        torch.onnx.export(torch.nn.Linear(2, 2), (torch.zeros(1, 2),), io.BytesIO(), dynamo=False)


@dataclass
class OnnxExport:
    """A written ONNX file, its verification and which exporter made it (``notes``: why the faster
    exporter's file was not kept, when it was not)."""
    path: Path
    report: "object"            # verify.VerifyReport
    exporter: str
    input_expects: str
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.report.ok


def export_and_verify(exportable: Exportable, path: str | os.PathLike, opset: int = DEFAULT_OPSET, *,
                      raw_inputs: bool = True, exporter: str = "auto", samples=None, predictor=None,
                      tolerance: float = DEFAULT_TOLERANCE, repeats: int = 20) -> OnnxExport:
    """Export, verify (``verify.verify_onnx`` with ``samples`` and ``predictor``) and write ``path``
    atomically: a cancelled or failed export leaves the previous file, or none.

    ``exporter="auto"``: the TorchScript-based exporter's file when it verifies, else the dynamo
    exporter's. The last exporter's file is written even when it does not verify (the report says
    FAILED, as ``layerloom-cli export`` shows it). Raises ``ExportError`` when no exporter can make a file."""
    from layerloom.export.verify import verify_onnx

    order = EXPORTERS if exporter == "auto" else (exporter,)
    target = Path(path)
    notes: list[str] = []
    for k, name in enumerate(order):
        last = k == len(order) - 1
        try:
            data = onnx_bytes(exportable, opset, raw_inputs=raw_inputs, exporter=name)
        except ExportError as exc:
            if last:
                raise
            notes.append(f"{EXPORTER_NAMES[name]} was not used: {exc}")
            continue
        candidate = _write(target, data, temporary=True)
        try:
            report = verify_onnx(candidate, exportable, samples, tolerance=tolerance, repeats=repeats,
                                 predictor=predictor)
            if report.ok or last:
                _write(target, data)
                report.path = str(target)
                return OnnxExport(target, report, name, input_expects(exportable, raw_inputs), notes)
            notes.append(f"{EXPORTER_NAMES[name]} was not used: its file did not verify ({report.problem})")
        finally:
            candidate.unlink(missing_ok=True)
    raise ExportError("no exporter was tried")  # pragma: no cover - order is never empty


def _write(target: Path, data: bytes, temporary: bool = False) -> Path:
    """``data`` to ``target`` atomically, or (``temporary``) to a hidden file beside it that the
    verification reads; its name starts with ``.<target name>.`` and ends ``.tmp``, as the atomic
    write's own temporary does, so leftovers of a killed export are found the same way."""
    import tempfile

    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if not temporary:
            return atomic_write(target, data)
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".verify.tmp", dir=target.parent)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        return Path(name)
    except OSError as exc:
        raise ExportError(f"{target}: cannot write: {exc.strerror or exc}") from None


def export_onnx(exportable: Exportable, path: str | os.PathLike, opset: int = DEFAULT_OPSET, *,
                raw_inputs: bool = True, exporter: str = "auto") -> Path:
    """Write the ONNX file (checked on random inputs when choosing the exporter); see ``export_and_verify``."""
    return export_and_verify(exportable, path, opset, raw_inputs=raw_inputs, exporter=exporter, repeats=1).path


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
        from layerloom.compiler import random_tensor
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
