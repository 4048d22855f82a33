"""Thread policy on a busy machine: the default (measured) count against fixed 1 and fixed 2 threads.

Workloads (one process, ``TrainingSession.run`` on this thread, the CLI's way, no run folder):

- ``mnist_mlp``: the MNIST-shaped MLP example (784-128-64-10, Adam (fused), batch 64) on synthetic
  MNIST-shaped data (no download): ``--samples`` (60,000) training samples, ``--mnist-epochs`` (3)
  epochs, 1,000 validation samples.
- ``digits_mlp``: the digits example (64-128-64-10, Adam, batch 64), ``--digits-epochs`` (its own 20).

Each is run with 0, 1 and 2 competing busy processes (Python processes multiplying numpy matrices
on one thread each, started before and killed after each load level), under three policies: the
default (``threads`` None: LayerLoom measures, see ``layerloom.training.threads``), fixed 1 and fixed
2 threads. The policies run interleaved, round by round in each of their 6 orders in turn, so a
change in the machine's load, or what the previous run left behind, hits all of them alike. A run longer than ``--cap`` seconds is stopped there (a
collapsed 2-thread run would take minutes); its figure counts the samples it trained.

Figure: *run samples/s* = samples trained / the run's wall time from ``run()`` to its end (set-up,
the thread measuring, validation included). Printed: the median over rounds with its range
(min..max), and default / best fixed count, the ratio's range taken over rounds (each round's default
against that round's best fixed) and the ratio of the medians. Goal (issue 19): default >= 0.9x the best fixed count in every case.

Usage: python benchmarks/bench_threads.py [--rounds 6] [--samples 60000] [--mnist-epochs 3]
       [--digits-epochs 20] [--cap 6] [--loads 0,1,2] [--workloads mnist_mlp,digits_mlp]
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.pop("OMP_NUM_THREADS", None)   # the default policy must measure (torch is not imported yet)

import torch  # noqa: E402

from layerloom import load_graph  # noqa: E402
from layerloom.files.resources import example_path  # noqa: E402
from layerloom.training import EpochEnd, Finished, Stopped, TrainingConfig, TrainingSession  # noqa: E402

POLICIES = ("default", "1", "2")
# every order in turn: a rotation alone would always run the default right after fixed 2 (a run after
# a 2-thread run measured slower here, whichever it was)
ORDERS = list(itertools.permutations(POLICIES))
SPIN = ("import numpy as np\n"
        "a = np.random.rand(200, 200)\n"
        "while True:\n"
        "    a = a @ a\n"
        "    a /= np.abs(a).max() + 1.0\n")


def make_mnist(path: Path, train: int, val: int = 1000, seed: int = 0) -> None:
    """The MNIST-shaped synthetic data bench_mnist.py trains on (the same generator)."""
    from bench_mnist import make_data

    make_data(path, train, val, seed)


def busy_processes(count: int) -> list[subprocess.Popen]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    return [subprocess.Popen([sys.executable, "-c", SPIN], env=env) for _ in range(count)]


def stop_all(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        process.kill()
    for process in processes:
        process.wait(10)


def one_run(workload: str, policy: str, data: Path, epochs: int, cap: float) -> dict:
    if workload == "mnist_mlp":
        graph = load_graph(example_path("mnist_mlp"))
        changes = {"epochs": epochs, "dataset": {"path": str(data), "scaling": "none", "val_split": 0.0}}
    else:
        graph = load_graph(example_path("digits_mlp"))
        changes = {"epochs": epochs}
    config = TrainingConfig.from_graph(graph).replace(device="cpu", seed=0, **changes)
    threads = None if policy == "default" else int(policy)
    session = TrainingSession(graph, config, threads=threads)
    timer = threading.Timer(cap, session.stop)
    timer.start()
    start = time.perf_counter()
    try:
        session.run()
    finally:
        timer.cancel()
    wall = time.perf_counter() - start
    result = session.result
    if not isinstance(result, (Finished, Stopped)):
        raise SystemExit(f"{workload} ({policy}) failed: {result}")
    batch = config.batch_size
    steps = session.trainer.step if session.trainer is not None else 0
    samples = min(steps * batch, session.plan.dataset.num_train * session.trainer.epochs)
    train_s = sum(e.train_s for e in session.events.drain() if isinstance(e, EpochEnd))
    choice = session.thread_choice
    return {"run": samples / wall, "threads": choice.threads, "why": choice.reason, "stopped": isinstance(result, Stopped),
            "train_s": train_s, "cost_s": choice.cost_s, "wall": wall}


def _range(values: list[float], fmt: str = "{:,.0f}") -> str:
    return f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))}..{fmt.format(max(values))})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6, help="6: each order once")
    parser.add_argument("--samples", type=int, default=60000, help="MNIST-shaped training samples")
    parser.add_argument("--mnist-epochs", type=int, default=3, help="the issue's 3")
    parser.add_argument("--digits-epochs", type=int, default=20, help="the example's own 20")
    parser.add_argument("--cap", type=float, default=6.0, help="stop a run after this many seconds")
    parser.add_argument("--loads", default="0,1,2", help="competing busy processes, comma-separated")
    parser.add_argument("--workloads", default="mnist_mlp,digits_mlp")
    args = parser.parse_args()
    loads = [int(n) for n in args.loads.split(",")]
    workloads = args.workloads.split(",")
    print(f"torch {torch.__version__}, {os.cpu_count()} cores, python {sys.version.split()[0]}; "
          f"{args.rounds} rounds, runs capped at {args.cap:g} s; no GPU (CPU only)")
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "mnist.npz"
        make_mnist(data, args.samples)
        one_run("digits_mlp", "1", data, 1, args.cap)   # imports and first-use costs, outside the figures
        rows = []
        for load in loads:
            processes = busy_processes(load)
            try:
                time.sleep(1.0)   # let the load settle
                for workload in workloads:
                    figures = {p: [] for p in POLICIES}
                    chosen, shares, same = [], [], 0
                    for r in range(args.rounds):
                        order = ORDERS[r % len(ORDERS)]
                        for policy in order:
                            epochs = args.mnist_epochs if workload == "mnist_mlp" else args.digits_epochs
                            out = one_run(workload, policy, data, epochs, args.cap)
                            figures[policy].append(out["run"])
                            if policy == "default":
                                chosen.append(f"{out['threads']} ({out['why']}; {out['cost_s'] * 1000:.0f} ms)")
                                shares.append(out["cost_s"] / out["wall"])
                                picked = out["threads"]
                            print(f"  load {load} {workload:10s} round {r + 1} {policy:>7s}: "
                                  f"{out['run']:9,.0f} samples/s, {out['threads']} thread(s)"
                                  + (" [capped]" if out["stopped"] else ""), flush=True)
                        best = "1" if figures["1"][-1] >= figures["2"][-1] else "2"
                        same += picked == int(best)
                    ratios = [d / max(one, two) for d, one, two in zip(figures["default"], figures["1"], figures["2"])]
                    rows.append((load, workload, figures, ratios, (chosen, shares, same)))
            finally:
                stop_all(processes)
    print()
    print("run samples/s, median (min..max) over rounds; default / best fixed per round")
    print(f"{'busy':>4}  {'workload':10s}  {'default':>24s}  {'fixed 1':>24s}  {'fixed 2':>24s}  "
          f"{'default/best per round':>24s}  {'of medians':>10s}")
    for load, workload, figures, ratios, chosen in rows:
        medians = statistics.median(figures["default"]) / max(statistics.median(figures["1"]),
                                                              statistics.median(figures["2"]))
        print(f"{load:>4}  {workload:10s}  {_range(figures['default']):>24s}  {_range(figures['1']):>24s}  "
              f"{_range(figures['2']):>24s}  {_range(ratios, '{:.2f}x'):>24s}  {medians:>9.2f}x")
    print()
    print("what the default chose, round by round (why; what choosing cost):")
    for load, workload, _, _, (chosen, shares, same) in rows:
        print(f"  load {load} {workload}: " + "; ".join(chosen))
        print(f"    the round's best fixed count in {same} of {len(chosen)} rounds; choosing took "
              f"{min(shares):.1%}..{max(shares):.1%} of the default run's wall time")
    worst = min(min(r) for *_, r, _ in rows)
    print(f"\nworst default/best over every case and round: {worst:.2f}x (goal >= 0.9x)")


if __name__ == "__main__":
    main()
