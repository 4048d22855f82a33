"""Export speed and inference speed: what leaving LayerLoom costs, and what ONNX buys.

For each example graph (trained one epoch so the weights are real):
- export + verify: seconds to write the ONNX file and to prove it (checker, onnxruntime vs PyTorch at
  batch 1 and 8 on random and dataset inputs);
- inference latency at batch 1 and 64 on the CPU: onnxruntime against PyTorch eager (``torch.no_grad``)
  on the same inputs, interleaved in one process, medians of many runs, and the ratio
  (above 1: onnxruntime is faster);
- dialog to verified file: the export job exactly as the Export dialog runs it (an ``ExportRequest``
  of the digits MLP's checkpoint, sent to a warm child that has already imported torch, until the
  verified ``ExportResult`` is back), against a bare ``torch.onnx.export`` of the same module in this
  process (warmed up first), over a few rounds with min/median/max and their ratio; also the same job
  in a cold (freshly spawned) child, and in a warm child that also warmed the exporter.

Usage: python benchmarks/bench_export.py [--repeat 200] [--threads N] [--rounds 5] [--only dialog|latency]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from layerloom import load_graph  # noqa: E402
from layerloom.export import dataset_samples, export_onnx, load_exportable, verify_onnx  # noqa: E402
from layerloom.export.verify import session_for  # noqa: E402
from layerloom.files.resources import example_paths  # noqa: E402
from layerloom.training import TrainingConfig, TrainingSession  # noqa: E402
from layerloom.export.jobs import ExportRequest, child_main, file_stem, request_payload  # noqa: E402
from layerloom.training.worker import WarmProcess, start_job  # noqa: E402


def _median_ms(fn, repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def _spread(values: list[float]) -> str:
    return (f"min {min(values):6.3f} s  median {statistics.median(values):6.3f} s  "
            f"max {max(values):6.3f} s")


def _dialog_job(graph, checkpoint: Path, folder: Path, warm: WarmProcess | None, **options) -> tuple[float, object]:
    """The dialog's export, timed from building the request to the verified result being back."""
    start = time.perf_counter()
    request = ExportRequest(graph.copy(), checkpoint, None, folder, file_stem(graph.name), **options)
    process, used = start_job(("call", child_main, request_payload(request)), warm, name="layerloom-export")
    try:
        while True:
            kind, value = process.events.get(timeout=300)
            if kind == "done":
                break
            if kind == "error":
                raise RuntimeError(value[1])
    finally:
        process.close()
    elapsed = time.perf_counter() - start
    if warm is not None and not used:
        raise RuntimeError("the warm child was not used")
    if not value.ok:
        raise RuntimeError(value.describe())
    return elapsed, value


def dialog_figure(rounds: int, tmp: str) -> None:
    """Dialog-to-verified-file time against a bare torch.onnx.export of the same module."""
    graph = load_graph(example_paths()[0].parent / "digits_mlp.llgraph.json")
    result = TrainingSession(graph, TrainingConfig.from_graph(graph).replace(epochs=1), run_root=tmp).run()
    checkpoint = Path(result.run_dir) / "checkpoints" / "last.pt"
    exportable = load_exportable(checkpoint)
    model, inputs, compiled = exportable.model.eval(), exportable.example_inputs(2), exportable.compiled

    def bare(dynamo: bool) -> float:
        start = time.perf_counter()
        kwargs = {"dynamic_shapes": ({0: torch.export.Dim("batch", min=1)},), "external_data": False,
                  "verbose": False} if dynamo else {"dynamic_axes": {compiled.input_names[0]: {0: "batch"}}}
        target = Path(tmp) / "bare.onnx"
        program = torch.onnx.export(model, inputs, None if dynamo else str(target), dynamo=dynamo,
                                    input_names=compiled.input_names, output_names=compiled.output_names,
                                    opset_version=20, **kwargs)
        if dynamo:
            program.save(str(target))
        return time.perf_counter() - start

    import logging
    import warnings
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    warnings.simplefilter("ignore")
    first_bare = bare(True)                 # this process's first export: the exporter's start-up
    kinds = {"warm": {}, "warm+exporter": {"warm_export": True}}
    times: dict[str, list[float]] = {k: [] for k in ("bare dynamo", "bare torchscript", "cold", "before", *kinds)}
    exporter = ""
    for k in range(rounds):
        for name, options in kinds.items():
            warm = WarmProcess(**options).start()
            if not warm.wait_ready(300):
                raise RuntimeError("the warm child did not start")
            seconds, value = _dialog_job(graph, checkpoint, Path(tmp) / f"{name}-{k}", warm)
            times[name].append(seconds)
            exporter = value.outcome("onnx").exporter
        times["cold"].append(_dialog_job(graph, checkpoint, Path(tmp) / f"cold-{k}", None)[0])
        times["before"].append(_dialog_job(graph, checkpoint, Path(tmp) / f"before-{k}", None, exporter="dynamo",
                                           raw_inputs=False)[0])
        times["bare dynamo"].append(bare(True))
        times["bare torchscript"].append(bare(False))
    print(f"\nDialog to verified file (digits MLP, {rounds} rounds; the file made by the {exporter} exporter, "
          "verified on random, dataset and raw samples against the app's predictor):")
    baseline = statistics.median(times["bare dynamo"])
    for name in ("bare dynamo", "bare torchscript", "warm", "warm+exporter", "cold", "before"):
        label = {"bare dynamo": "bare torch.onnx.export (dynamo, this process, warm)",
                 "bare torchscript": "bare torch.onnx.export (dynamo=False, this process)",
                 "warm": "dialog's job, warm child",
                 "warm+exporter": "dialog's job, warm child with the exporter warmed too",
                 "cold": "dialog's job, fresh child (no warm process)",
                 "before": "fresh child, dynamo exporter (the path before warm children)"}[name]
        ratio = statistics.median(times[name]) / baseline
        print(f"  {label:<60}{_spread(times[name])}  {ratio:5.2f}x")
    print(f"  (this process's first bare dynamo export, with its start-up: {first_bare:.2f} s)")
    print("  ratio = median / median of the bare dynamo export of the same module (below 1: faster)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1, help="torch and onnxruntime threads (default 1)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of the dialog-to-file figure (default 5)")
    parser.add_argument("--only", choices=("dialog", "latency"), help="one of the two figures")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.only != "latency":
        with tempfile.TemporaryDirectory() as tmp:
            dialog_figure(args.rounds, tmp)
        if args.only == "dialog":
            return
        print()
    print(f"torch {torch.__version__}, {args.threads} thread(s); latency = median of {args.repeat} runs")
    header = (f"{'graph':<18}{'export s':>9}{'verify s':>9}{'max diff':>10}"
              f"{'torch b1':>10}{'ort b1':>9}{'ratio':>7}{'torch b64':>11}{'ort b64':>9}{'ratio':>7}")
    print(header)
    with tempfile.TemporaryDirectory() as tmp:
        for path in example_paths():
            graph = load_graph(path)
            config = TrainingConfig.from_graph(graph).replace(epochs=1)
            result = TrainingSession(graph, config, run_root=tmp).run()
            exportable = load_exportable(result.run_dir)
            out = Path(tmp) / f"{path.name.split('.')[0]}.onnx"
            start = time.perf_counter()
            export_onnx(exportable, out)
            exported = time.perf_counter() - start
            samples, _ = dataset_samples(exportable)
            start = time.perf_counter()
            report = verify_onnx(out, exportable, samples, repeats=2)
            verified = time.perf_counter() - start
            session = session_for(out, args.threads)
            names = [i.name for i in session.get_inputs()]
            row = [f"{graph.name[:17]:<18}", f"{exported:>9.2f}", f"{verified:>9.2f}", f"{report.max_abs_diff:>10.1e}"]
            model = exportable.model.eval()
            for batch in (1, 64):
                inputs = exportable.example_inputs(batch)
                feed = {n: t.numpy() for n, t in zip(names, inputs)}

                def eager():
                    with torch.no_grad():
                        model(*inputs)

                torch_ms = _median_ms(eager, args.repeat)
                ort_ms = _median_ms(lambda: session.run(None, feed), args.repeat)
                row += [f"{torch_ms:>{10 if batch == 1 else 11}.3f}", f"{ort_ms:>9.3f}", f"{torch_ms / ort_ms:>6.1f}x"]
            print("".join(row))
    print("ratio = PyTorch eager latency / onnxruntime latency (above 1: onnxruntime is faster)")


if __name__ == "__main__":
    main()
