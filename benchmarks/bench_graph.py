"""Graph-core speed on big graphs: validate + infer shapes, compile, save and load.

Two 1,000-node graphs: a chain (Linear/ReLU alternating) and a branching DAG (residual blocks whose
Add merges three inputs: the block input, the block's ReLU and a long skip from two blocks back).
Each step is timed as the median of several runs and printed with its target (the issue's budget on a
2-core machine) and a ratio against a baseline measured in the same process, so a noisy machine
shows up in both numbers:

- shape inference vs running the compiled model once on torch's ``meta`` device (symbolic execution);
- compile vs constructing the same layers by hand (``nn.Linear``/``nn.ReLU`` into a ModuleDict);
- save/load vs ``json.dumps``/``json.loads`` of the same document;
- saving a graph whose node ``ui`` holds a large nested value (a binary tree of lists, ``--ui-depth``)
  vs ``json.dumps`` of the same document written compactly, and the saved size against that compact size
  (before issue 15 a 21 MB value took 70 s and 94 MB);
- blocks nested 1 to 6 deep (block ``L<k>`` holds a Linear, a ReLU and one instance of ``L<k-1>``): the
  inner analyses that analyze, then compile, cost after an edit (``layerloom.model.blocks.expansion_stats``;
  before issue 16 they doubled with each level: 2, 6, 14, 30, 62, 126 for analyze) and the time of
  analyze and compile after an edit vs the same layers in a flat chain.

Usage: python benchmarks/bench_graph.py [--nodes 1000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
from torch import nn  # noqa: E402

from layerloom import Graph, analyze, compile_graph, dumps_graph, load_graph, save_graph  # noqa: E402
from layerloom.model.blocks import expansion_stats  # noqa: E402

WIDTH = 32
TARGETS_MS = {"infer": 50.0, "compile": 500.0, "save+load": 100.0}


def chain_graph(n: int, catalog=None) -> Graph:
    g = Graph(name="chain", catalog=catalog)
    prev = g.add_node("Input", "x", {"shape": [WIDTH]})
    for i in range(n - 2):
        node = g.add_node("Linear" if i % 2 == 0 else "ReLU", f"n{i}",
                          {"out_features": WIDTH} if i % 2 == 0 else None)
        g.connect(prev.id, "out", node.id, "in")
        prev = node
    out = g.add_node("Output", "y")
    g.connect(prev.id, "out", out.id, "in")
    return g


def dag_graph(n: int) -> Graph:
    g = Graph(name="dag")
    x = g.add_node("Input", "x", {"shape": [WIDTH]})
    history = [x, x]
    blocks = (n - 2) // 3
    for b in range(blocks):
        prev = history[-1]
        fc = g.add_node("Linear", f"fc{b}", {"out_features": WIDTH})
        act = g.add_node("ReLU", f"act{b}")
        merge = g.add_node("Add", f"add{b}", {"inputs": 3})
        g.connect(prev.id, "out", fc.id, "in")
        g.connect(fc.id, "out", act.id, "in")
        g.connect(prev.id, "out", merge.id, "in1")
        g.connect(act.id, "out", merge.id, "in2")
        g.connect(history[-2].id, "out", merge.id, "in3")
        history.append(merge)
    last = history[-1]
    for i in range(n - 2 - 3 * blocks):  # pad to exactly n nodes
        extra = g.add_node("ReLU", f"pad{i}")
        g.connect(last.id, "out", extra.id, "in")
        last = extra
    out = g.add_node("Output", "y")
    g.connect(last.id, "out", out.id, "in")
    return g


def median_ms(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def hand_built(graph: Graph) -> nn.Module:
    layers = nn.ModuleDict()
    for node in graph:
        if node.type_id == "Linear":
            layers[node.name] = nn.Linear(WIDTH, WIDTH)
        elif node.type_id == "ReLU":
            layers[node.name] = nn.ReLU()
    return layers


def bench(graph: Graph, repeat: int) -> dict[str, tuple[float, float, str]]:
    analysis = analyze(graph)
    assert analysis.ok, [str(p) for p in analysis.errors][:3]
    compiled = compile_graph(graph, seed=0)
    meta_model = compiled.model.to("meta")
    meta_input = torch.empty(1, WIDTH, device="meta")
    results = {}

    infer = median_ms(lambda: analyze(graph), repeat)
    meta = median_ms(lambda: meta_model(meta_input), repeat)
    results["infer"] = (infer, infer / meta, "meta-device forward")

    comp = median_ms(lambda: compile_graph(graph, seed=0), repeat)
    hand = median_ms(lambda: hand_built(graph), repeat)
    results["compile"] = (comp, comp / hand, "hand-built modules")

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "g.llgraph.json"

        def save_load():
            save_graph(graph, path)
            load_graph(path)

        document = json.loads(dumps_graph(graph))

        def raw_json():
            path.with_suffix(".raw").write_text(json.dumps(document, indent=2))
            json.loads(path.with_suffix(".raw").read_text())

        io = median_ms(save_load, repeat)
        raw = median_ms(raw_json, repeat)
        results["save+load"] = (io, io / raw, "json.dumps+loads")
    return results


def big_ui_row(depth: int, repeat: int) -> tuple[float, float, float, int]:
    """Save time (ms), its ratio to compact ``json.dumps`` + write, saved size / compact size, compact bytes."""
    graph = chain_graph(10)

    def tree(level):
        return [tree(level - 1), tree(level - 1)] if level else [1, 2.5]

    graph.set_ui(next(iter(graph)).id, "blob", tree(depth))
    with tempfile.TemporaryDirectory() as folder:
        path, raw_path = Path(folder) / "g.llgraph.json", Path(folder) / "g.raw.json"
        document = json.loads(dumps_graph(graph))

        def raw():
            raw_path.write_text(json.dumps(document, separators=(",", ":")))

        save = median_ms(lambda: save_graph(graph, path), repeat)
        baseline = median_ms(raw, repeat)
        return save, save / baseline, path.stat().st_size / raw_path.stat().st_size, raw_path.stat().st_size


def nested_graph(depth: int) -> Graph:
    """An Input, one instance of block ``L<depth>`` and an Output. Block ``L1`` is Linear -> ReLU;
    block ``L<k>`` is Linear -> ReLU -> ``L<k-1>``, so the model holds ``2 * depth`` layers (the
    tests' builder, tests/test_blocks.py checks its counts)."""
    from tests.helpers import nested_blocks_graph

    return nested_blocks_graph(depth, WIDTH)


def inner_analyses() -> int:
    """Inner analyses of block instances run so far in this process."""
    return expansion_stats.analyses


def nested_rows(depths, repeat: int) -> list[tuple]:
    """Per depth: inner analyses of one analyze after an edit and of one compile after that (no edit
    between), then, each after an edit (``graph.blocks.touch()``: what every edit does to the blocks'
    derived values), analyze ms and its ratio to the flat chain's, compile ms and its ratio, and analyze
    ms with no edit before it."""
    rows = []
    for depth in depths:
        graph, flat = nested_graph(depth), chain_graph(2 * depth + 2)
        start = inner_analyses()
        analysis = analyze(graph)
        assert analysis.ok, [str(p) for p in analysis.errors][:3]
        analysed = inner_analyses() - start
        start = inner_analyses()
        compiled = compile_graph(graph, seed=0)
        compiled_count = inner_analyses() - start
        assert compiled.parameter_count() == compile_graph(flat, seed=0).parameter_count() == analysis.total_params

        def edited(fn):
            def run():
                graph.blocks.touch()
                fn()
            return run

        infer = median_ms(edited(lambda: analyze(graph)), repeat)
        infer_flat = median_ms(lambda: analyze(flat), repeat)
        comp = median_ms(edited(lambda: compile_graph(graph, seed=0)), repeat)
        comp_flat = median_ms(lambda: compile_graph(flat, seed=0), repeat)
        unchanged = median_ms(lambda: analyze(graph), repeat)
        rows.append((depth, analysed, compiled_count, infer, infer / infer_flat, comp, comp / comp_flat, unchanged))
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--ui-depth", type=int, default=18, help="levels of the ui value's tree (18: about 2.6 MB)")
    parser.add_argument("--block-depth", type=int, default=6, help="nest blocks 1 to this many levels deep")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, {args.nodes} nodes, median of {args.repeat}\n")
    print(f"{'graph':<7}{'step':<11}{'ms':>9}{'target':>9}{'of target':>11}   vs baseline")
    worst = 0.0
    for label, factory in (("chain", chain_graph), ("dag", dag_graph)):
        graph = factory(args.nodes)
        assert len(graph) == args.nodes
        for step, (ms, ratio, baseline) in bench(graph, args.repeat).items():
            share = ms / TARGETS_MS[step]
            worst = max(worst, share)
            print(f"{label:<7}{step:<11}{ms:>9.1f}{TARGETS_MS[step]:>9.0f}{share:>10.2f}x   "
                  f"{ratio:>6.2f}x {baseline}")
    save, ratio, size, raw_bytes = big_ui_row(args.ui_depth, args.repeat)
    print(f"\nbig ui   save of a {raw_bytes / 1e6:.1f} MB ui value: {save:.0f} ms, {ratio:.2f}x json.dumps compact; "
          f"saved size {size:.2f}x the compact JSON")
    print("\nnested blocks, after an edit (vs the same 2*depth layers in a flat chain)")
    print(f"{'depth':<7}{'inner analyses':>15}{'+ compile':>10}{'analyze ms':>12}{'vs flat':>9}"
          f"{'compile ms':>12}{'vs flat':>9}{'no edit ms':>12}")
    for depth, analysed, compiled, infer, infer_ratio, comp, comp_ratio, unchanged in nested_rows(
            range(1, args.block_depth + 1), args.repeat):
        print(f"{depth:<7}{analysed:>15}{compiled:>10}{infer:>12.2f}{infer_ratio:>8.2f}x{comp:>12.1f}{comp_ratio:>8.2f}x"
              f"{unchanged:>12.2f}")
    print(f"\nslowest step used {worst:.2f}x of its target")
    return 0


if __name__ == "__main__":
    sys.exit(main())
