"""Export speed and inference speed: what leaving LayerLoom costs, and what ONNX buys.

For each example graph (trained one epoch so the weights are real):
- export + verify: seconds to write the ONNX file and to prove it (checker, onnxruntime vs PyTorch at
  batch 1 and 8 on random and dataset inputs);
- inference latency at batch 1 and 64 on the CPU: onnxruntime against PyTorch eager (``torch.no_grad``)
  on the same inputs, interleaved in one process, medians of many runs, and the ratio
  (above 1: onnxruntime is faster).

Usage: python benchmarks/bench_export.py [--repeat 200] [--threads N]
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

from runtime import load_graph  # noqa: E402
from runtime.export import dataset_samples, export_onnx, load_exportable, verify_onnx  # noqa: E402
from runtime.export.verify import session_for  # noqa: E402
from runtime.resources import example_paths  # noqa: E402
from runtime.training import TrainingConfig, TrainingSession  # noqa: E402


def _median_ms(fn, repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1, help="torch and onnxruntime threads (default 1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
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
