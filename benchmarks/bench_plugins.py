"""What guarding plugin code costs: shape inference and compile of a graph whose every layer is a
plugin's, against the same graph of built-ins, in one process.

A plugin's ``infer``/``count_params``/``build`` run under a time limit with stdout sent to stderr
(``layerloom.catalog.plugin_guard``), its ``infer()`` answer is checked, and compile runs each plugin module once
against its declared shape. The baseline is the same 1,000-node chain (Linear/ReLU alternating) with the
built-in specs; the plugin graph uses the very same specs registered with a plugin as their source, so
the difference is the guard alone. Also printed: the guard's cost per guarded call in microseconds.

Usage: python benchmarks/bench_plugins.py [--nodes 1000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from bench_graph import chain_graph, median_ms  # noqa: E402  (the graph benchmark's chain and timer)
from layerloom import analyze, compile_graph  # noqa: E402
from layerloom.catalog.builtin import builtin_specs  # noqa: E402
from layerloom.catalog.spec import Catalog  # noqa: E402



def catalogs() -> tuple[Catalog, Catalog]:
    builtin = Catalog().extend(builtin_specs())
    plugin = builtin.copy()
    for type_id in ("Linear", "ReLU"):
        plugin.register(dataclasses.replace(builtin[type_id], source="bench"), replace=True)
    return builtin, plugin


def interleaved(a, b, repeat: int) -> tuple[float, float]:
    """Medians of ``a`` and ``b`` timed in turns, so a noisy machine weighs on both alike."""
    times_a, times_b = [], []
    for _ in range(repeat):
        times_a.append(median_ms(a, 1))
        times_b.append(median_ms(b, 1))
    return statistics.median(times_a), statistics.median(times_b)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    builtin, plugin = catalogs()
    plain, guarded = chain_graph(args.nodes, builtin), chain_graph(args.nodes, plugin)
    assert analyze(plain).ok and analyze(guarded).ok
    calls = 2 * (args.nodes - 2)  # infer() and count_params() per layer
    print(f"torch {torch.__version__}, {args.nodes} nodes ({args.nodes - 2} plugin layers), "
          f"median of {args.repeat}, interleaved\n")
    print(f"{'step':<26}{'built-in ms':>12}{'plugin ms':>11}{'ratio':>8}{'per call':>11}")

    def row(label, base, test, n):
        print(f"{label:<26}{base:>12.1f}{test:>11.1f}{test / base:>7.2f}x{(test - base) * 1000 / n:>9.1f}µs")

    base, test = interleaved(lambda: analyze(plain), lambda: analyze(guarded), args.repeat)
    row("infer (main thread)", base, test, calls)
    box = {}

    def in_thread(graph):
        worker = threading.Thread(target=lambda: box.setdefault("t", median_ms(lambda: analyze(graph), args.repeat)))
        worker.start()
        worker.join()
        return box.pop("t")

    base, test = in_thread(plain), in_thread(guarded)
    row("infer (worker thread)", base, test, calls)
    repeat = max(3, args.repeat // 2)
    base, test = interleaved(lambda: compile_graph(plain, seed=0), lambda: compile_graph(guarded, seed=0), repeat)
    row("compile (+ module check)", base, test, args.nodes - 2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
