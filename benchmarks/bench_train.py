"""Training speed: LayerLoom's trainer against the reference PyTorch loops, in one process.

Runs, interleaved round by round so a noisy machine hits all of them alike:

- ``layerloom worker``: the digits MLP example (64-128-64-10, Adam 1e-3, batch 64, same split as the
  reference) trained by ``TrainingSession`` on its background thread (the editor's way; the worker
  picks its own torch thread count) with this thread reading its events, no run folder.
  Two figures: *loop* counts the training steps only (the span the reference loops time), *run* is
  the whole run end to end (setup, per-epoch validation with all metrics, events).
- ``layerloom main``: the same run on this thread (the CLI's way).
- ``layerloom+files``: the worker run writing its run folder (CSV rows, checkpoints every epoch).
- ``tight`` and ``tutorial``: ``shared/bench/reference_loop.py``'s loops on the same network.

Prints samples/s (median over rounds) and the ratios. Targets (issue 3): loop >= 0.95x tight and
>= 1.4x tutorial. With a CUDA GPU, ``--device cuda`` reports LayerLoom on the GPU against the tight
loop moved to the GPU.

Usage: python benchmarks/bench_train.py [--rounds 5] [--epochs 20] [--threads N] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from layerloom import load_graph  # noqa: E402
from layerloom.files.resources import example_path  # noqa: E402
from layerloom.training import EpochEnd, Finished, TrainingConfig, TrainingSession  # noqa: E402


def _reference_module():
    for folder in (ROOT.parent / "shared" / "bench", ROOT / "benchmarks"):
        path = folder / "reference_loop.py"
        if path.exists():
            spec = importlib.util.spec_from_file_location("reference_loop", path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return module
    raise SystemExit("reference_loop.py not found (expected in ../shared/bench/)")


def layerloom(epochs: int, device: str, run_root: str | None = None, worker: bool = True) -> dict:
    """One run; ``worker``: on the session's background thread (the editor's way) with this thread
    reading events, else on this thread (the CLI's way)."""
    graph = load_graph(example_path("digits_mlp"))
    config = TrainingConfig.from_graph(graph).replace(epochs=epochs, device=device, seed=0)
    session = TrainingSession(graph, config, run_root=run_root)
    start = time.perf_counter()
    if worker:
        session.start()
        events = list(session.events_until_done())
        session.join()
    else:
        session.run()
        events = session.events.drain()
    wall = time.perf_counter() - start
    train_s = sum(e.train_s for e in events if isinstance(e, EpochEnd))
    result = session.result
    if not isinstance(result, Finished):
        raise SystemExit(f"LayerLoom run failed: {result}")
    samples = session.plan.dataset.num_train * epochs
    acc = session.trainer.history[-1].get("val_accuracy")
    return {"loop": samples / train_s, "run": samples / wall, "val_acc": acc}


def tight_cuda(reference, epochs: int, batch: int = 64) -> dict:
    """reference_loop.py's tight loop with the data and the network on the GPU."""
    device = torch.device("cuda")
    xtr, ytr, xva, yva = (t.to(device) for t in reference.data())
    net = reference.model().to(device)
    loss_fn = torch.nn.CrossEntropyLoss()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    seen = 0
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(epochs):
        idx = torch.randperm(len(ytr), device=device)
        for i in range(0, len(idx), batch):
            j = idx[i:i + batch]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(net(xtr[j]), ytr[j])
            loss.backward()
            opt.step()
            seen += len(j)
    torch.cuda.synchronize()
    return {"samples_per_s": seen / (time.perf_counter() - t0)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    reference = _reference_module()
    results: dict[str, list[float]] = {}
    accuracy: list[float] = []

    def record(name: str, value: float) -> None:
        results.setdefault(name, []).append(value)

    with tempfile.TemporaryDirectory() as tmp:
        layerloom(2, args.device)  # warm-up: imports, first-call allocations
        for r in range(args.rounds):
            order = ["layerloom", "tight", "main", "tutorial", "files"]
            order = order[r % len(order):] + order[:r % len(order)]
            for name in order:
                if name == "layerloom":
                    out = layerloom(args.epochs, args.device)
                    record("layerloom worker loop", out["loop"])
                    record("layerloom worker run", out["run"])
                    accuracy.append(out["val_acc"])
                elif name == "main":
                    out = layerloom(args.epochs, args.device, worker=False)
                    record("layerloom main loop", out["loop"])
                    record("layerloom main run", out["run"])
                elif name == "files":
                    out = layerloom(args.epochs, args.device, run_root=tmp)
                    record("layerloom+files run", out["run"])
                elif args.device == "cuda":
                    if name == "tight":
                        record("tight", tight_cuda(reference, args.epochs)["samples_per_s"])
                else:
                    record(name, reference.run(name, args.epochs, 64)["samples_per_s"])

    med = {name: statistics.median(values) for name, values in results.items()}
    print(f"digits MLP, {args.epochs} epochs, batch 64, {args.rounds} rounds, device {args.device}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"LayerLoom validation accuracy: {statistics.median(accuracy):.4f}")
    width = max(len(n) for n in med)
    for name, value in med.items():
        spread = f"{min(results[name]):,.0f}-{max(results[name]):,.0f}"
        print(f"  {name:<{width}}  {value:>10,.0f} samples/s   (range {spread})")
    for base, target in (("tight", 0.95), ("tutorial", 1.4)):
        if base not in med:
            continue
        print(f"ratios to {base} (target for loops >= {target}):")
        for name, value in med.items():
            if name.startswith("layerloom"):
                print(f"  {name:<{width}}  {value / med[base]:.2f}x")


if __name__ == "__main__":
    main()
