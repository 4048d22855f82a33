"""The data layer's share of a run: from an MNIST-shaped ``.npz`` file to the tensors the trainer batches from.

The file is ``bench_mnist``'s own synthetic data (``make_data``): 60,000 training and 10,000 validation
images of 1x28x28 float32 (188 MB + 31 MB), 10 classes, written once to a temporary folder.

Contenders, interleaved round by round in one process so a noisy machine hits both alike:

- ``numpy``: ``np.load`` and ``torch.from_numpy`` of each array: the least any loader can do (it reads
  every byte and checks each member's CRC, as every zip reader does).
- ``layerloom``: what ``Trainer._setup`` gets: ``load_dataset`` (read the archive with its checks:
  headers against the data limit, CRCs, non-finite values; encode the labels), ``plan_training`` with
  that dataset (shape it for the example ``mnist_mlp``'s Input, fit and apply the scaling), then a
  ``Split`` for train and validation (``plan.features(...)`` / ``plan.labels(...)``), the way the trainer
  builds them. Each stage is timed too: *read* (``load_dataset``), *plan* and *split*.

Figures are seconds, the median over rounds with the range (min..max); the ratio is layerloom's median
over numpy's, with the range of the per-round ratios (1.00x: no dearer than ``np.load``). One more pass
per contender, untimed, traces the peak memory numpy and torch allocate (``tracemalloc``) and prints it
in units of the data's size: 1.0 means the arrays were read once and never copied.

Usage: python benchmarks/bench_data.py [--rounds 5] [--scaling none] [--train 60000] [--val 10000] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from bench_mnist import make_data  # noqa: E402
from layerloom import load_graph  # noqa: E402
from layerloom.data import load_dataset  # noqa: E402
from layerloom.files.resources import example_path  # noqa: E402
from layerloom.training import TrainingConfig  # noqa: E402
from layerloom.training.batches import Split  # noqa: E402
from layerloom.training.feeds import data_layout  # noqa: E402
from layerloom.training.plan import plan_training  # noqa: E402

CPU = torch.device("cpu")


def run_numpy(path: Path) -> dict:
    start = time.perf_counter()
    with np.load(path) as z:
        tensors = [torch.from_numpy(z[k]) for k in ("x", "y", "x_val", "y_val")]
    total = time.perf_counter() - start
    return {"total": total, "keep": tensors}


def run_layerloom(path: Path, graph, config) -> dict:
    start = time.perf_counter()
    raw = load_dataset(config.dataset, layout=data_layout(graph))
    read = time.perf_counter()
    plan = plan_training(graph, config, dataset=raw)
    planned = time.perf_counter()
    splits = [Split(plan.features(s), plan.labels(s), CPU) for s in ("train", "val")]
    end = time.perf_counter()
    return {"total": end - start, "read": read - start, "plan": planned - read, "split": end - planned,
            "keep": splits}


def peak_copies(run, data_bytes: int) -> float:
    """Peak memory traced during ``run()`` in units of the data's size."""
    tracemalloc.start()
    try:
        kept = run()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del kept
    return peak / data_bytes


def _range(values: list[float], fmt: str) -> str:
    return f"{format(min(values), fmt)}..{format(max(values), fmt)}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--scaling", default="none", choices=("none", "auto", "standardize", "minmax"))
    parser.add_argument("--train", type=int, default=60_000)
    parser.add_argument("--val", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "mnist_shaped.npz"
        make_data(path, args.train, args.val)
        graph = load_graph(example_path("mnist_mlp"))
        config = TrainingConfig.from_graph(graph).replace(
            dataset={"path": str(path), "scaling": args.scaling, "val_split": 0.0}, device="cpu", seed=0)
        data_bytes = (args.train + args.val) * (784 * 4 + 8)
        print(f"data: {args.train:,} + {args.val:,} samples of 1x28x28 float32 ({data_bytes / 1e6:.0f} MB), "
              f"scaling {args.scaling}, {torch.get_num_threads()} torch thread(s), {args.rounds} rounds")
        contenders = {"numpy": lambda: run_numpy(path), "layerloom": lambda: run_layerloom(path, graph, config)}
        for run in contenders.values():  # warm-up: imports, the page cache, the graph's compile
            run()
        results: dict[str, list[dict]] = {name: [] for name in contenders}
        for i in range(args.rounds):
            order = list(contenders) if i % 2 == 0 else list(reversed(contenders))
            for name in order:
                row = contenders[name]()
                row.pop("keep")
                results[name].append(row)
        copies = {name: peak_copies(run, data_bytes) for name, run in contenders.items()}
    print(f"\n  {'contender':<12} {'seconds':>8} {'(range)':>13}  {'peak memory / data':>18}")
    for name, rows in results.items():
        totals = [r["total"] for r in rows]
        print(f"  {name:<12} {statistics.median(totals):>8.3f} {_range(totals, '.3f'):>13}  {copies[name]:>17.2f}x")
    stages = "  ".join(f"{stage} {statistics.median(r[stage] for r in results['layerloom']):.3f} s"
                       for stage in ("read", "plan", "split"))
    print(f"  layerloom stages (median): {stages}")
    per_round = [a["total"] / b["total"] for a, b in zip(results["layerloom"], results["numpy"])]
    ratio = statistics.median(r["total"] for r in results["layerloom"]) / \
        statistics.median(r["total"] for r in results["numpy"])
    print(f"\n  layerloom / numpy time: {ratio:.2f}x ({_range(per_round, '.2f')} over rounds; 1.00x: as cheap "
          f"as np.load + torch.from_numpy)")


if __name__ == "__main__":
    main()
