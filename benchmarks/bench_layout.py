"""The ``memory_format`` setting: channels-last against PyTorch's default layout, and what ``auto`` picks.

For each convolutional network, the training step (forward, backward, fused Adam) is timed in both
layouts on one batch of random data, interleaved round by round in one process (the network is
converted between rounds, so a machine that gets busier meets both alike); then ``auto``'s own
measurement (``layerloom.training.memory_format.layout_for_training``, as a run's set-up does it) is run
on a fresh copy, several times, and its picks are counted. The networks:

- the example graphs with 2-D convolutions: ``digits_cnn`` (8x8 digits), ``digits_residual``,
  ``mnist_cnn`` (28x28), at their batch size 64;
- models of the onnx package imported with ``layerloom.importers`` (its "light" models, given weights):
  SqueezeNet, ShuffleNet and DenseNet-121 at 3x224x224, batch 4 (``--models`` to choose; ResNet-50 and
  the others are slower still).

Figures: milliseconds per step (each round steps for at least 0.3 s), median over rounds with the range; the ratio is the default layout's
time over channels-last's (above 1: channels-last is faster), the median of the per-round ratios with
their range. ``auto`` is right when it picks channels-last where the ratio is clearly above 1 (it keeps
channels-last under 0.9x the time, i.e. a ratio over 1.11) and the default where it is below 1.

Usage: python benchmarks/bench_layout.py [--rounds 5] [--threads 1] [--models squeezenet,shufflenet,densenet121]
       [--auto-tries 3] [--no-imported]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

from layerloom import compile_graph, load_graph  # noqa: E402
from layerloom.files.resources import example_path  # noqa: E402
from layerloom.training.memory_format import (CHANNELS_LAST, CONTIGUOUS, LayoutChoice, apply_layout,  # noqa: E402
                                              layout_for_training)

EXAMPLES = ("digits_cnn", "digits_residual", "mnist_cnn")
SPAN_S = 0.3   # each round times steps for at least this long (one step, for a network slower than that)


def _first_tensor(out):
    if isinstance(out, dict):
        out = next(iter(out.values()))
    if isinstance(out, (tuple, list)):
        out = out[0]
    return out


def network(graph, batch: int):
    """The graph's model (its Outputs, no loss) and a random batch for its first Input."""
    model = compile_graph(graph).model.train()
    source = next(node for node in graph if node.type_id == "Input")
    x = torch.rand(batch, *[int(d) for d in source.params["shape"]])
    return model, x


def stepper(model, x):
    """One training step of ``model`` on ``x`` (a squared-output loss: the layout's cost is the network's)."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4, fused=True)

    def step():
        loss = _first_tensor(model(x)).float().pow(2).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return step


def forward_backward(model, x):
    """What a run's set-up times (``Trainer._trial_step``): forward and backward, nothing kept."""
    def trial():
        _first_tensor(model(x)).float().pow(2).mean().backward()
        for p in model.parameters():
            p.grad = None
    return trial


def bench(name: str, graph, batch: int, rounds: int, tries: int) -> dict:
    model, x = network(graph, batch)
    times = {CONTIGUOUS: [], CHANNELS_LAST: []}
    step = stepper(model, x)
    for layout in (CONTIGUOUS, CHANNELS_LAST):   # warm-up: each layout's kernels chosen once
        apply_layout(model, layout)
        step()
    for r in range(rounds):
        order = (CONTIGUOUS, CHANNELS_LAST) if r % 2 == 0 else (CHANNELS_LAST, CONTIGUOUS)
        for layout in order:
            apply_layout(model, layout)
            fresh = stepper(model, x)   # a new optimizer: its state is made in the parameters' layout
            fresh()
            started, count = time.perf_counter(), 0
            while count == 0 or time.perf_counter() - started < SPAN_S:   # small networks: many steps
                fresh()
                count += 1
            times[layout].append((time.perf_counter() - started) / count)
    picks = []
    for _ in range(tries):
        trial_model = copy.deepcopy(model)
        apply_layout(trial_model, CONTIGUOUS)
        choice = layout_for_training(trial_model, LayoutChoice(CHANNELS_LAST, "2-D convolutions on the CPU",
                                                                measure=True),
                                     forward_backward(trial_model, x), lambda note: None)
        picks.append(choice.memory_format)
    ratios = [c / l for c, l in zip(times[CONTIGUOUS], times[CHANNELS_LAST])]
    return {"name": name, "batch": batch, "times": times, "ratios": ratios, "picks": picks}


def report(rows: list[dict]) -> None:
    print(f"\n  {'network':<26} {'batch':>5} {'default ms':>18} {'channels-last ms':>20} "
          f"{'default / channels-last':>26}  auto picked")
    for row in rows:
        def ms(layout):
            values = [t * 1000 for t in row["times"][layout]]
            return f"{statistics.median(values):,.1f} ({min(values):,.1f}..{max(values):,.1f})"
        ratios = row["ratios"]
        picked = ", ".join(f"{row['picks'].count(k)}x {k}" for k in (CHANNELS_LAST, CONTIGUOUS)
                           if row["picks"].count(k))
        print(f"  {row['name']:<26} {row['batch']:>5} {ms(CONTIGUOUS):>18} {ms(CHANNELS_LAST):>20} "
              f"{statistics.median(ratios):>10.2f}x ({min(ratios):.2f}..{max(ratios):.2f})  {picked}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--models", default="squeezenet,shufflenet,densenet121")
    parser.add_argument("--auto-tries", type=int, default=3)
    parser.add_argument("--imported-batch", type=int, default=4)
    parser.add_argument("--no-imported", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    print(f"torch {torch.__version__}, {args.threads} thread(s), {args.rounds} rounds, no GPU measured")
    rows = [bench(name, load_graph(example_path(name)), 64, args.rounds, args.auto_tries) for name in EXAMPLES]
    report(rows)
    if not args.no_imported:
        from bench_import import LIGHT, materialized
        from layerloom.importers.onnx_import import import_onnx

        with tempfile.TemporaryDirectory() as tmp:
            for name in [m for m in args.models.split(",") if m]:
                path = materialized(LIGHT / f"light_{name}.onnx", Path(tmp) / f"{name}.onnx")
                graph = import_onnx(str(path)).graph
                rows.append(bench(f"{name} (imported ONNX)", graph, args.imported_batch, args.rounds,
                                  args.auto_tries))
                report(rows[-1:])
                sys.stdout.flush()


if __name__ == "__main__":
    main()
