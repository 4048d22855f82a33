"""Export jobs: the exports a user chose, each proved by the runtime's own verification, as one
call that never raises for a user's mistake (the result says what failed). The editor's Export dialog
runs it in a child process (``run_export_payload``); nothing here imports Qt.

The same runtime calls and defaults as ``layerloom-cli export``: ``export_onnx`` then ``verify_onnx``
on random and dataset inputs, optional int8 (skipped when the ONNX check fails), the PyTorch source
with its check, the ``torchrun`` folder, and a copy of the checkpoint.
"""

from __future__ import annotations

import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from layerloom.core.errors import LayerLoomError
from layerloom.model.graph import Graph
from layerloom.export.defaults import DEFAULT_OPSET, DEFAULT_TOLERANCE

PASSED, FAILED, WRITTEN, SKIPPED = "passed", "failed", "written", "skipped"
BADGES = {PASSED: ("PASSED", "#2e7d32"), FAILED: ("FAILED", "#c62828"),
          WRITTEN: ("WRITTEN", "#3d6fb4"), SKIPPED: ("SKIPPED", "#6b7079")}


def file_stem(name: str) -> str:
    """``"Digits MLP"`` -> ``digits_mlp``: a file name that is also an importable module name."""
    stem = re.sub(r"\W+", "_", name.strip().lower()).strip("_")[:40] or "model"
    return "model_" + stem if stem[0].isdigit() else stem


def checkpoint_file(path: str | Path) -> Path:
    """The file a checkpoint path stands for (a run folder means its last checkpoint), as the
    runtime's ``load_checkpoint`` reads it."""
    path = Path(path)
    if path.is_dir():
        return path / "checkpoints" / "last.pt" if (path / "checkpoints").is_dir() else path / "last.pt"
    return path


@dataclass
class ExportRequest:
    graph: Graph                        # a private copy: the editor may change its own meanwhile
    checkpoint: Path | None
    base_dir: Path | None
    folder: Path
    stem: str
    onnx: bool = True
    opset: int = DEFAULT_OPSET
    quantize: str | None = None         # None, "dynamic" or "static"
    python: bool = False
    ddp: bool = False
    copy_checkpoint: bool = False
    tolerance: float = DEFAULT_TOLERANCE
    raw_inputs: bool = True             # the ONNX file applies the training's scaling (False: inputs already scaled)
    exporter: str = "auto"              # "auto" (TorchScript-based when it verifies, else dynamo), or one of them

    def targets(self) -> dict[str, Path]:
        """What each chosen export writes (the PyTorch source's weights go beside it as ``<stem>.pt``)."""
        out: dict[str, Path] = {}
        if self.onnx:
            out["onnx"] = self.folder / f"{self.stem}.onnx"
            if self.quantize:
                out["int8"] = self.folder / f"{self.stem}.int8.onnx"   # as the CLI names it
        if self.python:
            out["python"] = self.folder / f"{self.stem}.py"
            out["weights"] = self.folder / f"{self.stem}.pt"
        if self.ddp:
            out["ddp"] = self.folder / "torchrun"
        if self.copy_checkpoint and self.checkpoint is not None:
            out["checkpoint"] = self.folder / f"{self.stem}.checkpoint.pt"
        return out


@dataclass
class ExportOutcome:
    kind: str                           # "onnx", "int8", "python", "ddp", "checkpoint"
    title: str
    status: str                         # PASSED, FAILED, WRITTEN or SKIPPED
    paths: list[Path] = field(default_factory=list)
    report: Any = None                  # VerifyReport, QuantizeReport, or the source's max difference
    message: str = ""                   # the error, or why it failed
    lines: list[str] = field(default_factory=list)   # the facts worth showing
    exporter: str = ""                  # ONNX: which exporter made the file ("torchscript" or "dynamo")
    input_expects: str = ""             # ONNX: what the file takes, "raw" samples or "scaled" inputs

    @property
    def ok(self) -> bool:
        return self.status in (PASSED, WRITTEN)


@dataclass
class ExportResult:
    request: ExportRequest
    outcomes: list[ExportOutcome] = field(default_factory=list)
    trained: bool = False
    weights: str = ""                   # where the weights came from, in words
    error: str = ""                     # the export could not start (graph or checkpoint at fault)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.error and bool(self.outcomes) and all(o.ok for o in self.outcomes)

    def outcome(self, kind: str) -> ExportOutcome | None:
        return next((o for o in self.outcomes if o.kind == kind), None)

    def describe(self) -> str:
        lines = [f"{self.weights}" if self.weights else "", f"error: {self.error}" if self.error else ""]
        for o in self.outcomes:
            lines.append(f"{o.title}: {o.status.upper()}" + (f": {o.message}" if o.message else ""))
            lines += [f"  {line}" for line in o.lines]
        return "\n".join(line for line in lines if line)


def run_export(request: ExportRequest, stage: Callable[[str], None] = lambda text: None) -> ExportResult:
    """Every chosen export, each verified as ``layerloom-cli export`` verifies it. Never raises for a
    user's mistake: the result says what failed. ``stage(text)`` names each step as it starts."""
    from layerloom.export.source import app_predictor, load_exportable

    started = time.perf_counter()
    result = ExportResult(request)
    stage("Building the model…")
    try:
        exportable = load_exportable(request.graph, request.checkpoint)
    except LayerLoomError as exc:
        result.error = str(exc)
        return result
    result.trained = exportable.trained
    if exportable.trained:
        epoch = exportable.run.get("epoch")
        result.weights = f"Trained weights from {exportable.run['checkpoint']}" + (f" (epoch {epoch})" if epoch else "")
    else:
        try:
            result.weights = (load_start_weights(exportable, request.base_dir)
                              or "Untrained weights: the graph's random initialisation")
        except LayerLoomError as exc:
            result.error = str(exc)
            return result
    targets = request.targets()
    if request.onnx:
        stage("Preparing the app's predictor for the check…")
        predictor = app_predictor(exportable, request.base_dir)   # also fits an untrained graph's scaling
        result.outcomes += _onnx(request, exportable, targets, stage, predictor)
    elif request.python:
        app_predictor(exportable, request.base_dir)   # the source's preprocess() needs the scaling
    steps = (("python", "PyTorch source", _python), ("ddp", "torchrun training folder", _ddp),
             ("checkpoint", "Checkpoint copy", _copy_checkpoint))
    for kind, title, step in steps:
        if kind in targets:
            result.outcomes.append(_guarded(kind, title, lambda step=step: step(request, exportable, targets, stage)))
    result.seconds = time.perf_counter() - started
    return result


def load_start_weights(exportable, base_dir: str | Path | None) -> str | None:
    """Load the graph's ``training.weights`` (an imported model's weights, relative to the graph file's folder
    ``base_dir``) into a model no run has trained, so an imported model exports without training. Returns
    where its weights came from, in words (None when the graph names no weights file); raises the weights
    file's ``CheckpointError`` when it cannot be read or nothing in it fits."""
    from layerloom.training.start_weights import fit_weights, read_weights_file, start_weights_path

    setting = exportable.graph.training.get("weights") if isinstance(exportable.graph.training, dict) else None
    if not setting or not isinstance(setting, str):
        return None
    path = start_weights_path(setting, base_dir)
    report = fit_weights(exportable.compiled.model, read_weights_file(path), path.name)
    if not report.loaded:
        from layerloom.training.run_writer import CheckpointError

        raise CheckpointError(f"{path.name}: no tensor fits this graph; " + "; ".join(report.lines()[1:]))
    text = f"Imported weights from {path.name}"
    if not report.complete:
        text += " (" + "; ".join(report.lines()[1:]) + ")"
    return text


def _guarded(kind: str, title: str, step: Callable[[], ExportOutcome]) -> ExportOutcome:
    """A step's outcome; its error (a user's mistake, or a bug worth reporting) as a failed outcome."""
    try:
        return step()
    except LayerLoomError as exc:
        return ExportOutcome(kind, title, FAILED, message=str(exc))
    except Exception as exc:  # noqa: BLE001 - shown in the dialog rather than lost in a thread
        return ExportOutcome(kind, title, FAILED, message=f"unexpected error: {type(exc).__name__}: {exc}")


def _onnx(request: ExportRequest, exportable, targets: dict[str, Path], stage, predictor) -> list[ExportOutcome]:
    from layerloom.export.onnx_export import EXPORTER_NAMES, export_and_verify
    from layerloom.export.preprocessing import RAW, describe
    from layerloom.export.source import dataset_samples

    path = targets["onnx"]
    predictor, predictor_note = predictor

    def export() -> ExportOutcome:
        samples, note = dataset_samples(exportable, base_dir=request.base_dir)
        stage(f"Exporting ONNX (opset {request.opset}) and verifying it in onnxruntime…")
        shipped = export_and_verify(exportable, path, request.opset, raw_inputs=request.raw_inputs,
                                    exporter=request.exporter, samples=samples, predictor=predictor,
                                    tolerance=request.tolerance)
        report = shipped.report
        outcome = ExportOutcome("onnx", "ONNX model", PASSED if report.ok else FAILED, [path], report,
                                report.problem)
        if shipped.input_expects == RAW:
            outcome.lines.append(f"Takes raw samples: the file applies the training's {describe(exportable.scaling)}")
        else:
            outcome.lines.append(f"Takes inputs already scaled ({describe(exportable.scaling)}, "
                                 "in its metadata layerloom.preprocessing)")
        if report.max_abs_diff == report.max_abs_diff:   # not NaN: the comparison ran
            outcome.lines.append(f"Max |onnxruntime − PyTorch| = {report.max_abs_diff:.2e} "
                                 f"(tolerance {report.tolerance:.0e})")
        predicted = [diff for what, diff in report.checks if what.startswith("the app's predictor")]
        if predicted:
            outcome.lines.append(f"Raw dataset samples give the app's predictions: max difference "
                                 f"{max(predicted):.2e}")
        elif report.predictor_note or predictor_note:
            outcome.lines.append(f"Note: {predictor_note or report.predictor_note}")
        size = f"File size {report.file_bytes / 1024:,.1f} KiB"
        if report.latency_ms:
            size += " · onnxruntime latency " + ", ".join(
                f"batch {b}: {ms:.3f} ms" for b, ms in sorted(report.latency_ms.items()))
        outcome.lines.append(size)
        outcome.lines.append(f"Opset {request.opset}, dynamic batch size; checked on "
                             + (f"random inputs and {note} samples" if samples is not None
                                else f"random inputs only ({note})"))
        outcome.lines.append(f"Made by {EXPORTER_NAMES[shipped.exporter]}")
        outcome.lines += [f"Note: {text}" for text in shipped.notes]
        outcome.exporter = shipped.exporter
        outcome.input_expects = shipped.input_expects
        return outcome

    onnx_outcome = _guarded("onnx", "ONNX model", export)
    outcomes = [onnx_outcome]
    if request.quantize:
        title = f"Int8 quantization ({request.quantize})"
        if not onnx_outcome.ok:
            outcomes.append(ExportOutcome("int8", title, SKIPPED,
                                          message="the float model failed, so it was not quantized"))
        else:
            outcomes.append(_guarded("int8", title, lambda: _quantize(request, exportable, path, targets, stage)))
    return outcomes


def _quantize(request: ExportRequest, exportable, source: Path, targets: dict[str, Path], stage) -> ExportOutcome:
    import onnx

    from layerloom.export.quantize import quantize_and_report

    title = f"Int8 quantization ({request.quantize})"
    target = targets["int8"]
    stage(f"Quantizing to int8 ({request.quantize})…")
    report = quantize_and_report(exportable, source, target, request.quantize, request.base_dir)
    try:
        onnx.checker.check_model(str(target), full_check=True)
    except Exception as exc:  # noqa: BLE001 - the checker raises several types
        return ExportOutcome("int8", title, FAILED, [target], report,
                             f"the quantized model does not pass onnx.checker: {exc}")
    ratio = report.bytes_after / max(report.bytes_before, 1)
    lines = [f"File size {report.bytes_before / 1024:,.1f} KiB → {report.bytes_after / 1024:,.1f} KiB ({ratio:.0%})"]
    if report.before is not None:
        lines.append(f"Validation {report.metric} {report.before:.4f} → {report.after:.4f} "
                     f"({report.after - report.before:+.4f}) on {report.samples:,} samples, in onnxruntime")
    if report.note:
        lines.append(f"Note: {report.note}")
    return ExportOutcome("int8", title, WRITTEN, [target], report, lines=lines)


def _python(request: ExportRequest, exportable, targets: dict[str, Path], stage) -> ExportOutcome:
    from layerloom.export.pysource import class_name, export_python, verify_python

    stage("Writing PyTorch source…")
    path, weights = export_python(exportable, targets["python"])
    stage("Verifying the PyTorch source…")
    try:
        diff = verify_python(path, exportable)
    except Exception as exc:  # noqa: BLE001 - the generated file failed to run: a bug worth reporting
        return ExportOutcome("python", "PyTorch source", FAILED, [path, weights],
                             message=f"the generated source does not run: {type(exc).__name__}: {exc}")
    ok = diff <= request.tolerance
    outcome = ExportOutcome("python", "PyTorch source", PASSED if ok else FAILED, [path, weights], diff,
                            "" if ok else f"it differs from the compiled graph by {diff:.2e}")
    outcome.lines = [f"Max |generated − compiled| = {diff:.2e} (tolerance {request.tolerance:.0e})",
                     f"class {class_name(exportable.name)} in {path.name}; weights in {weights.name} "
                     "(torch.load(weights_only=True))"]
    return outcome


def _ddp(request: ExportRequest, exportable, targets: dict[str, Path], stage) -> ExportOutcome:
    from layerloom.export.ddp import export_ddp

    stage("Writing the torchrun folder…")
    script = export_ddp(exportable, targets["ddp"], request.base_dir)
    return ExportOutcome("ddp", "torchrun training folder", WRITTEN, [script.parent], script,
                         lines=[f"Run it with: cd {script.parent} && torchrun --nproc_per_node=N {script.name}"])


def _copy_checkpoint(request: ExportRequest, exportable, targets: dict[str, Path], stage) -> ExportOutcome:
    stage("Copying the checkpoint…")
    source, target = checkpoint_file(request.checkpoint), targets["checkpoint"]
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    except OSError as exc:
        return ExportOutcome("checkpoint", "Checkpoint copy", FAILED, message=f"{target}: cannot copy "
                             f"{source}: {exc.strerror or exc}")
    return ExportOutcome("checkpoint", "Checkpoint copy", WRITTEN, [target],
                         lines=[f"From {source} ({target.stat().st_size / 1024:,.1f} KiB)"])


def leftovers(request: ExportRequest) -> list[Path]:
    """Temporary files a killed export may leave beside its targets (``.<name>.*.tmp``: the atomic
    writes' and the verification's); the targets themselves are always whole or absent."""
    found: list[Path] = []
    for kind, target in request.targets().items():
        if target.parent.is_dir():
            found += sorted(target.parent.glob(f".{target.name}.*.tmp"))
        if kind == "ddp" and target.is_dir():   # the torchrun folder's own files
            found += sorted(target.glob(".*.tmp"))
    return found


def remove_leftovers(request: ExportRequest) -> int:
    """Delete ``leftovers(request)``; how many were removed."""
    count = 0
    for path in leftovers(request):
        try:
            path.unlink()
            count += 1
        except OSError:
            pass
    return count


# ---------------------------------------------------------------------- in a child process
def request_payload(request: ExportRequest) -> dict[str, Any]:
    """The request as plain data for a child process: the graph travels as its file text."""
    from layerloom.files.graphfile import dumps_graph

    data = {f: getattr(request, f) for f in request.__dataclass_fields__ if f != "graph"}
    data["graph"] = dumps_graph(request.graph)
    return data


def run_export_payload(payload: dict[str, Any], stage: Callable[[str], None]) -> ExportResult:
    """``run_export`` in a child process: the request rebuilt from ``request_payload``; the result
    comes back without the graph (the caller keeps its own request)."""
    from layerloom.files.graphfile import loads_graph

    data = dict(payload)
    request = ExportRequest(graph=loads_graph(data.pop("graph")), **data)
    result = run_export(request, stage)
    result.request = None
    return result


def child_main(payload: dict[str, Any], channel) -> None:
    """A child process's whole life: export, telling each step and then the result (or the error
    that escaped) through ``channel``, a multiprocessing queue of ``(kind, value)`` pairs."""
    import traceback

    try:
        result = run_export_payload(payload, lambda text: channel.put(("message", text)))
        channel.put(("done", result))
    except BaseException as exc:  # noqa: BLE001 - whatever happens is told, not lost
        channel.put(("error", (type(exc).__name__, str(exc), traceback.format_exc())))
    channel.close()
    channel.join_thread()
