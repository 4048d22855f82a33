"""Prove an ONNX export: the checker's full check, then onnxruntime against PyTorch on random inputs
and on real dataset samples at batch sizes 1 and 8, and (given the app's ``Predictor``) the file fed
RAW dataset samples against the app's own predictions, with the file size and onnxruntime's latency.

The file's ``layerloom.input_expects`` says what it takes: raw samples (it applies the scaling
itself; random test inputs are then drawn in the raw units) or inputs already scaled."""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from layerloom.export.defaults import DEFAULT_TOLERANCE
from layerloom.export.preprocessing import RAW, SCALED, ScalingError, scaling_constants, unscale
from layerloom.export.source import Exportable

BATCHES = (1, 8)


@dataclass
class VerifyReport:
    path: str
    ok: bool
    max_abs_diff: float
    tolerance: float
    file_bytes: int
    latency_ms: dict[int, float] = field(default_factory=dict)   # batch size -> median ms per batch
    checks: list[tuple[str, float]] = field(default_factory=list)  # (what was compared, max abs diff)
    problem: str = ""
    input_expects: str = SCALED          # what the file takes: "raw" samples or "scaled" inputs
    predictor_note: str = ""             # why the app's predictor was not compared, when it was not

    def describe(self) -> str:
        verdict = "verified" if self.ok else "FAILED"
        lines = [f"{self.path}: {verdict}: max |onnxruntime - PyTorch| = {self.max_abs_diff:.2e} "
                 f"(tolerance {self.tolerance:.0e}), {self.file_bytes / 1024:,.1f} KiB"]
        if self.latency_ms:
            lines.append("  onnxruntime latency: " + ", ".join(
                f"batch {b}: {ms:.3f} ms" for b, ms in sorted(self.latency_ms.items())))
        lines.append("  inputs: raw samples (the file applies the training's scaling)" if self.input_expects == RAW
                     else "  inputs: already scaled (see layerloom.preprocessing)")
        for what, diff in self.checks:
            lines.append(f"  {what}: {diff:.2e}")
        if self.predictor_note:
            lines.append(f"  note: {self.predictor_note}")
        if self.problem:
            lines.append(f"  problem: {self.problem}")
        return "\n".join(lines)


def session_for(path: str | os.PathLike, threads: int | None = None):
    """An onnxruntime CPU session (``threads``: intra-op threads; None: onnxruntime's choice)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def verify_onnx(path: str | os.PathLike, exportable: Exportable, samples: np.ndarray | None = None,
                tolerance: float = DEFAULT_TOLERANCE, repeats: int = 20, predictor=None) -> VerifyReport:
    """``samples``: real inputs (raw, shaped like the graph's single Input). ``predictor``: the app's
    ``layerloom.training.inference.Predictor`` for the same graph and weights; the file, fed the raw samples
    (scaled first when it takes scaled inputs), must give its predictions. Never raises for a bad
    export: the report says what failed."""
    import onnx

    path = Path(path)
    report = VerifyReport(str(path), False, float("nan"), tolerance, path.stat().st_size if path.exists() else 0)
    try:
        onnx.checker.check_model(str(path), full_check=True)
        report.input_expects = _input_expects(onnx.load(str(path), load_external_data=False))
    except Exception as exc:  # noqa: BLE001 - the checker raises several types
        report.problem = f"onnx.checker: {exc}"
        return report
    try:
        session = session_for(path)
    except Exception as exc:  # noqa: BLE001
        report.problem = f"onnxruntime cannot load it: {exc}"
        return report
    try:
        feed_of = _feeder(exportable, report.input_expects)
    except ScalingError as exc:
        report.problem = f"the recorded scaling does not fit the model: {exc}"
        return report
    model = exportable.model.eval()
    names = [i.name for i in session.get_inputs()]
    worst = 0.0
    one_raw = samples is not None and len(exportable.compiled.inputs) == 1 and len(samples)
    try:
        cases = [(f"random inputs, batch {b}", feed_of.random(b)) for b in BATCHES]
        if one_raw:
            real = np.asarray(samples[:max(BATCHES)], dtype=np.float32)
            cases += [(f"dataset samples, batch {b}", feed_of.samples(real[:b])) for b in BATCHES if len(real) >= b]
        for what, (feed, reference) in cases:
            with torch.no_grad():
                expected = [e.numpy() for e in _as_list(model(*reference))]
            got = session.run(None, dict(zip(names, feed)))
            worst = _compare(report, what, expected, got, worst)
        if predictor is not None and one_raw:
            worst = _against_predictor(report, session, names, feed_of, predictor, real, worst)
        elif predictor is None and one_raw:
            report.predictor_note = "not compared with the app's predictor (none given)"
        for b in BATCHES:
            report.latency_ms[b] = _latency(session, dict(zip(names, feed_of.random(b)[0])), repeats)
    except Exception as exc:  # noqa: BLE001
        report.problem = f"onnxruntime failed to run it: {type(exc).__name__}: {exc}"
        return report
    report.max_abs_diff = worst
    report.ok = worst <= tolerance
    if not report.ok:
        report.problem = f"outputs differ from PyTorch by {worst:.2e}, more than the tolerance {tolerance:.0e}"
    return report


def _input_expects(proto) -> str:
    value = next((p.value for p in proto.metadata_props if p.key == "layerloom.input_expects"), None)
    return RAW if value is not None and value.strip('"') == RAW else SCALED


class _Feeder:
    """Inputs for the file (``feed``) and for the PyTorch network (``reference``, scaled) that stand
    for the same samples."""

    def __init__(self, exportable: Exportable, raw: bool):
        self.exportable = exportable
        self.raw = raw
        inputs = exportable.compiled.inputs
        self.constants = scaling_constants(exportable.scaling, inputs[0].spec.features) \
            if raw and len(inputs) == 1 and inputs[0].spec.is_float else None

    def random(self, batch: int):
        tensors = self.exportable.example_inputs(batch, seed=batch)
        if self.constants is None:
            return [t.numpy() for t in tensors], tensors
        raw = unscale(tensors[0].numpy(), self.constants)   # raw units: the network sees about N(0, 1)
        return [raw] + [t.numpy() for t in tensors[1:]], (torch.from_numpy(self.exportable.preprocess(raw)),
                                                          *tensors[1:])

    def samples(self, raw: np.ndarray):
        scaled = self.exportable.preprocess(raw)
        return [raw if self.raw else scaled], (torch.from_numpy(scaled),)


def _feeder(exportable: Exportable, expects: str) -> _Feeder:
    return _Feeder(exportable, expects == RAW)


def _compare(report: VerifyReport, what: str, expected, got, worst: float) -> float:
    diff = max((float(np.max(np.abs(np.asarray(e, np.float64) - np.asarray(g, np.float64)))) if np.size(e) else 0.0
                for e, g in zip(expected, got)), default=0.0)
    report.checks.append((what, diff))
    return max(worst, diff) if diff == diff else float("nan")


def _against_predictor(report: VerifyReport, session, names, feed_of: _Feeder, predictor, real: np.ndarray,
                       worst: float) -> float:
    """The file fed raw samples (scaled first for a scaled-input file) against ``Predictor.outputs``."""
    index = predictor.output_index
    if index is None:
        report.predictor_note = ("not compared with the app's predictor: its predictions come from a "
                                 "loss's input that is not one of the model's outputs")
        return worst
    for b in BATCHES:
        if len(real) < b:
            continue
        feed, _ = feed_of.samples(real[:b])
        got = session.run(None, dict(zip(names, feed)))[index]
        expected = predictor.outputs(real[:b])
        worst = _compare(report, f"the app's predictor on raw samples, batch {b}", [expected],
                         [np.asarray(got).reshape(len(expected), -1)], worst)
    return worst


def _as_list(out) -> list[torch.Tensor]:
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _latency(session, feed: dict, repeats: int) -> float:
    session.run(None, feed)  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        session.run(None, feed)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3
