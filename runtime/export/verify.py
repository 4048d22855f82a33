"""Prove an ONNX export: the checker's full check, then onnxruntime against PyTorch on random inputs
and on real dataset samples at batch sizes 1 and 8, with the file size and onnxruntime's latency."""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .defaults import DEFAULT_TOLERANCE
from .source import Exportable

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

    def describe(self) -> str:
        verdict = "verified" if self.ok else "FAILED"
        lines = [f"{self.path}: {verdict}: max |onnxruntime - PyTorch| = {self.max_abs_diff:.2e} "
                 f"(tolerance {self.tolerance:.0e}), {self.file_bytes / 1024:,.1f} KiB"]
        if self.latency_ms:
            lines.append("  onnxruntime latency: " + ", ".join(
                f"batch {b}: {ms:.3f} ms" for b, ms in sorted(self.latency_ms.items())))
        for what, diff in self.checks:
            lines.append(f"  {what}: {diff:.2e}")
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
                tolerance: float = DEFAULT_TOLERANCE, repeats: int = 20) -> VerifyReport:
    """``samples``: real inputs (raw, shaped like the graph's single Input), preprocessed here as in
    training. Never raises for a bad export: the report says what failed."""
    import onnx

    path = Path(path)
    report = VerifyReport(str(path), False, float("nan"), tolerance, path.stat().st_size if path.exists() else 0)
    try:
        onnx.checker.check_model(str(path), full_check=True)
    except Exception as exc:  # noqa: BLE001 - the checker raises several types
        report.problem = f"onnx.checker: {exc}"
        return report
    try:
        session = session_for(path)
    except Exception as exc:  # noqa: BLE001
        report.problem = f"onnxruntime cannot load it: {exc}"
        return report
    model = exportable.model.eval()
    names = [i.name for i in session.get_inputs()]
    worst = 0.0
    cases = [(f"random inputs, batch {b}", exportable.example_inputs(b, seed=b)) for b in BATCHES]
    if samples is not None and len(exportable.compiled.inputs) == 1 and len(samples):
        real = torch.from_numpy(exportable.preprocess(np.asarray(samples[:max(BATCHES)])))
        cases += [(f"dataset samples, batch {b}", (real[:b],)) for b in BATCHES if len(real) >= b]
    try:
        for what, inputs in cases:
            with torch.no_grad():
                expected = _as_list(model(*inputs))
            got = session.run(None, {n: t.numpy() for n, t in zip(names, inputs)})
            diff = max(float(np.max(np.abs(e.numpy().astype(np.float64) - g.astype(np.float64))))
                       if e.numel() else 0.0 for e, g in zip(expected, got))
            report.checks.append((what, diff))
            worst = max(worst, diff) if diff == diff else float("nan")
        for b in BATCHES:
            feed = {n: t.numpy() for n, t in zip(names, exportable.example_inputs(b))}
            report.latency_ms[b] = _latency(session, feed, repeats)
    except Exception as exc:  # noqa: BLE001
        report.problem = f"onnxruntime failed to run it: {type(exc).__name__}: {exc}"
        return report
    report.max_abs_diff = worst
    report.ok = worst <= tolerance
    if not report.ok:
        report.problem = f"outputs differ from PyTorch by {worst:.2e}, more than the tolerance {tolerance:.0e}"
    return report


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
