"""Long hostile-input campaign: feed LayerLoom mutated graph files, formulas, checkpoints, datasets and
plugins, and count how each case ended.

    .venv/bin/python tools/fuzz.py                       # every category, 200 cases each
    .venv/bin/python tools/fuzz.py --cases 2000 --only graphs,datasets --seed 7
    .venv/bin/python tools/fuzz.py --keep failures/      # write each crash/hang case to a folder

Each case runs in a worker process watched by this one: a case that does not end within ``--timeout``
seconds is a hang (the worker is killed and replaced), one that grows the worker past ``--memory`` MiB
is a memory blow-up, an exception that is not one of LayerLoom's own errors is a crash. Graph files
that load are also checked, compiled when the check accepts them, and saved and read back: a
difference is data lost; a graph the check accepts but the compiler refuses is "accepted, not built".
Plugins run as ``layerloom-cli check --json`` in their own process (a plugin runs at import).

The tests (tests/hostile/) run a small, fixed part of this in CI; this script is for longer runs.
It prints one table: cases tried per category and how they ended.
"""

from __future__ import annotations

import argparse
import base64
import copy
import io
import json
import multiprocessing as mp
import os
import random
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

OUTCOMES = ("accepted", "clear error", "crash", "hang", "memory", "accepted, not built", "data lost")
BAD = {"crash", "hang", "memory", "accepted, not built", "data lost"}

# ---------------------------------------------------------------------------------------- case makers
HOSTILE_VALUES = [None, True, False, 0, -1, 3, 2.5, -1e308, 1e308, "", "x", "é\u202e\x00", [], {}, [1, 2],
                  {"a": 1}, [[[[[]]]]], "1" * 1000, 10 ** 40, -(10 ** 30), 1e-320]


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, prefix + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, prefix + (index,))


def _mutate_json(data, rng: random.Random):
    data = copy.deepcopy(data)
    for _ in range(rng.randint(1, 3)):
        paths = [p for p in _paths(data) if p]
        if not paths:
            break
        path = rng.choice(paths)
        parent = data
        for key in path[:-1]:
            parent = parent[key]
        key = path[-1]
        op = rng.random()
        if op < 0.25 and isinstance(parent, dict):
            del parent[key]
        elif op < 0.35 and isinstance(parent, list):
            parent.append(copy.deepcopy(parent[key]))     # a duplicate node, edge or dimension
        elif op < 0.45 and isinstance(parent, dict):
            parent[key + "_" if isinstance(key, str) else key] = parent.pop(key)   # a renamed key
        else:
            parent[key] = copy.deepcopy(rng.choice(HOSTILE_VALUES))
    return data


def _mutate_bytes(blob: bytes, rng: random.Random) -> bytes:
    blob = bytearray(blob)
    op = rng.random()
    if op < 0.3 and blob:
        del blob[rng.randrange(len(blob)):]                # truncated
    elif op < 0.8:
        for _ in range(rng.randint(1, 8)):
            if blob:
                blob[rng.randrange(len(blob))] = rng.randrange(256)
    else:
        at = rng.randrange(len(blob) + 1)
        blob[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
    return bytes(blob)


def make_graph_case(rng: random.Random) -> dict:
    from layerloom.files.resources import example_paths

    path = rng.choice(sorted(example_paths()))
    text = Path(path).read_text(encoding="utf-8")
    if rng.random() < 0.15:
        return {"text": _mutate_bytes(text.encode(), rng).decode("utf-8", "replace"), "from": Path(path).name}
    return {"text": json.dumps(_mutate_json(json.loads(text), rng)), "from": Path(path).name}


FORMULA_ATOMS = ["x", "x", "a", "b", "pi", "e", "1", "0", "2.5", "-1", "0.001"]
HOSTILE_ATOMS = ["1e308", "1e999", "1" + "0" * 400, "y", "__class__", "x.__class__", "().__class__", "open",
                 "exec", "__import__('os')", "lambda: 1", "xpu", "forward", "training", "extra_repr", "x[0]",
                 "'s'", "None", "True", "10**10**10", "x if x else 1", "[x]", "{x}", "x.T"]
FORMULA_FUNCS = ["relu", "sigmoid", "tanh", "exp", "log", "sqrt", "abs", "softplus", "gelu", "min", "max"]
HOSTILE_FUNCS = ["getattr", "eval", "print", "clamp", "leaky_relu", "x", "a", "relu.__call__"]
PARAM_NAMES = ["a, b", "a, b", "a, b", "", "xpu, b", "a, extra_repr", "forward, b", "a, a", "x, b", "1a, b",
               "cuda, a", "weight, b", "training, a", "__dict__, b", "a, " + "b" * 300, "a, zero_grad",
               "a, _parameters", "a, T_destination", "a, dump_patches", "a, call_super_init"]


def _expression(rng: random.Random, depth: int) -> str:
    hostile = rng.random() < 0.1
    if depth <= 0 or rng.random() < 0.3:
        return rng.choice(HOSTILE_ATOMS if hostile else FORMULA_ATOMS)
    kind = rng.random()
    if kind < 0.5:
        operator = rng.choice(['+', '-', '*', '/', '**'] + (['//', '%', '@', 'and', '<'] if hostile else []))
        return f"{_expression(rng, depth - 1)} {operator} {_expression(rng, depth - 1)}"
    if kind < 0.9:
        function = rng.choice(HOSTILE_FUNCS if hostile else FORMULA_FUNCS)
        count = rng.randint(1, 3) if hostile else 2 if function in ("min", "max") else 1
        return f"{function}({', '.join(_expression(rng, depth - 1) for _ in range(count))})"
    return "(" * 200 + "x" + ")" * 200 if rng.random() < 0.5 else "-" * 5000 + "x"


def make_formula_case(rng: random.Random) -> dict:
    import re

    expression = _expression(rng, rng.randint(1, 5))
    used = sorted(set(re.findall(r"\b[ab]\b", expression)))
    parameters = rng.choice(PARAM_NAMES) if rng.random() < 0.3 else ", ".join(used)
    return {"expression": expression, "parameters": parameters,
            "parameter_shape": rng.choice(["scalar", "per_feature"])}


def make_checkpoint_case(rng: random.Random) -> dict:
    return {"seed": rng.randrange(1 << 30), "mutation": rng.choice(
        ["none", "weights-str", "weights-list", "weight-shape", "weight-nan", "weight-inf", "drop-key", "epoch-str",
         "optimizer-state", "graph-mutated", "bytes", "not-dict", "pickle-code", "empty", "version"])}


def make_dataset_case(rng: random.Random) -> dict:
    return {"seed": rng.randrange(1 << 30), "kind": rng.choice(["csv", "csv-bytes", "npz", "npz-bytes", "idx",
                                                              "idx-gz", "csv-cells"])}


HOSTILE_PLUGINS = {
    "import-loop": "while True:\n    pass\n",
    "import-sleep": "import time\ntime.sleep(3600)\n",
    "import-exit": "import sys\nsys.exit(3)\n",
    "import-keyboard": "raise KeyboardInterrupt\n",
    "import-print": "print('hello from a plugin')\nimport sys\nsys.stdout.write('{not json')\n",
    "import-raise": "raise RuntimeError('broken plugin')\n",
    "infer-loop": "INFER = 'while True: pass'",
    "infer-sleep": "INFER = 'import time; time.sleep(3600)'",
    "infer-exit": "INFER = 'import sys; sys.exit(4)'",
    "infer-negative": "INFER = 'return ctx.inputs[\"x\"].with_features((-3,))'",
    "infer-fraction": "INFER = 'return ctx.inputs[\"x\"].with_features((2.5,))'",
    "infer-lies": "INFER = 'return ctx.inputs[\"x\"].with_features((7,))'",
    "infer-print": "INFER = 'print(\"noise\"); return ctx.expect_float()'",
    "build-raises": "BUILD = 'raise ValueError(\"no\")'",
    "bad-nodes": "NODES = 'not a list'\n",
    "syntax-error": "def (:\n",
}

PLUGIN_TEMPLATE = '''
from layerloom.catalog.spec import NodeSpec
import torch
{prelude}
def _infer(ctx):
    {infer}
def _build(ctx):
    {build}
NODES = [NodeSpec("Hostile{n}", "Hostile", "a hostile plugin", infer=_infer, build=_build,
                  count_params=lambda ctx: 0)]
'''


def make_plugin_case(rng: random.Random) -> dict:
    name = rng.choice(sorted(HOSTILE_PLUGINS))
    return {"name": name}


MAKERS = {"graphs": make_graph_case, "formulas": make_formula_case, "checkpoints": make_checkpoint_case,
          "datasets": make_dataset_case, "plugins": make_plugin_case}

# ---------------------------------------------------------------------------------------- runners (worker)


def _is_clear(exc: BaseException) -> bool:
    from layerloom.core.errors import LayerLoomError

    return isinstance(exc, LayerLoomError) and bool(str(exc).strip())


def _check_and_build(graph) -> str:
    """'accepted', or 'accepted, not built' when the check passes and the compiler refuses."""
    from layerloom import ERROR, analyze, compile_graph

    if any(p.severity == ERROR for p in analyze(graph).problems):
        return "clear error"
    try:
        compile_graph(graph, seed=0)
    except Exception as exc:  # noqa: BLE001 - every refusal after an accepting check is a finding
        return "accepted, not built: " + f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
    return "accepted"


def run_graph(case: dict) -> str:
    from layerloom import dumps_graph, loads_graph

    graph = loads_graph(case["text"], path="fuzzed.llgraph.json")
    saved = dumps_graph(graph)
    if dumps_graph(loads_graph(saved)) != saved:
        return "data lost: a saved graph reads back different"
    return _check_and_build(graph)


def run_formula(case: dict) -> str:
    from layerloom import Graph

    graph = Graph(name="formula")
    graph.add_node("Input", "x", {"shape": [4]}, node_id="x")
    graph.add_node("Formula", "f", {"expression": case["expression"], "parameters": case["parameters"],
                                    "parameter_shape": case["parameter_shape"]}, node_id="f")
    graph.add_node("Output", "out", node_id="out")
    graph.connect("x", "out", "f", "x")
    graph.connect("f", "out", "out", "in")
    outcome = _check_and_build(graph)
    if outcome == "accepted":
        from layerloom import compile_graph
        import torch

        compiled = compile_graph(graph, seed=0)
        compiled.model(torch.ones(2, 4))
        from layerloom.export import load_exportable
        from layerloom.export.pysource import python_source   # what `layerloom-cli code` writes
        python_source(load_exportable(graph))
    return outcome


def _checkpoint_payload(case: dict, folder: Path) -> Path:
    """A mutated copy of a real checkpoint (a one-epoch digits MLP run, made once per worker)."""
    import torch

    from layerloom.files.resources import example_path

    rng = random.Random(case["seed"])
    base = folder / "base.pt"
    if not base.exists():
        from layerloom.cli.main import main

        graph = json.loads(example_path("digits_mlp").read_text(encoding="utf-8"))
        graph["training"]["epochs"] = 1
        (folder / "g.llgraph.json").write_text(json.dumps(graph), encoding="utf-8")
        with contextlib_quiet():
            main(["train", str(folder / "g.llgraph.json"), "--quiet", "--out", str(folder / "runs")])
        run = next((folder / "runs").iterdir())
        base.write_bytes(next(run.rglob("last.pt")).read_bytes())
    data = torch.load(base, weights_only=True)
    mutation = case["mutation"]
    target = folder / "case.pt"
    if mutation == "bytes":
        target.write_bytes(_mutate_bytes(base.read_bytes(), rng))
        return target
    if mutation == "empty":
        target.write_bytes(b"")
        return target
    if mutation == "pickle-code":
        import pickle

        class Payload:
            def __reduce__(self):
                return (os.system, ("echo pwned",))
        target.write_bytes(pickle.dumps({"format": "layerloom-checkpoint", "weights": Payload()}))
        return target
    name = rng.choice(sorted(data["weights"]))
    if mutation == "weights-str":
        data["weights"][name] = "abc"
    elif mutation == "weights-list":
        data["weights"] = [1, 2, 3]
    elif mutation == "weight-shape":
        data["weights"][name] = torch.zeros(3, 5, 7)
    elif mutation == "weight-nan":
        data["weights"][name] = data["weights"][name].clone().fill_(float("nan"))
    elif mutation == "weight-inf":
        data["weights"][name] = data["weights"][name].clone().fill_(float("inf"))
    elif mutation == "drop-key":
        data.pop(rng.choice(sorted(data)))
    elif mutation == "epoch-str":
        data["epoch"] = "abc"
    elif mutation == "optimizer-state":
        data["optimizer"] = rng.choice([{"state": "x"}, "x", None, {"param_groups": "y"}])
    elif mutation == "graph-mutated":
        data["graph"] = _mutate_json(data["graph"], rng)
    elif mutation == "not-dict":
        data = [data]
    elif mutation == "version":
        data["version"] = rng.choice(["1", 10 ** 6, None, -1])
    torch.save(data, target)
    return target


class contextlib_quiet:
    """stdout and stderr to nowhere for a moment."""

    def __enter__(self):
        self._saved = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = io.StringIO()

    def __exit__(self, *exc):
        sys.stdout, sys.stderr = self._saved


def run_checkpoint(case: dict) -> str:
    from layerloom.export import load_exportable
    from layerloom.training.inference import Predictor
    from layerloom.training.runs import checkpoint_graph, load_checkpoint

    folder = Path(os.environ["LAYERLOOM_FUZZ_DIR"])
    path = _checkpoint_payload(case, folder)
    exportable = load_exportable(path)                       # export's path
    Predictor(checkpoint_graph(load_checkpoint(path)), str(path))   # Try it's and evaluation's path
    del exportable
    from layerloom.cli.main import main

    before = path.read_bytes()
    with contextlib_quiet():
        status = main(["train", "--resume", str(path), "--epochs", "2", "--quiet"])
    if status != 0 and path.read_bytes() != before:
        return "data lost: a refused resume changed the checkpoint"
    return "accepted" if status == 0 else "clear error"


def _dataset_file(case: dict, folder: Path) -> Path:
    import gzip
    import struct

    import numpy as np

    rng = random.Random(case["seed"])
    kind = case["kind"]
    rows = rng.randint(0, 40)
    if kind.startswith("csv"):
        lines = ["a,b,label"] + [f"{rng.random()},{rng.random()},c{rng.randint(0, 2)}" for _ in range(rows)]
        text = "\n".join(lines) + "\n"
        if kind == "csv-cells":
            cells = ["1e308", "-1e309", "nan", "inf", "", "\ufeff1", "1,2", '"', "x" * 100000, "\x00"]
            parts = text.split(",")
            for _ in range(rng.randint(1, 4)):
                parts[rng.randrange(len(parts))] = rng.choice(cells)
            text = ",".join(parts)
        blob = text.encode("utf-8", "surrogatepass")
        if kind == "csv-bytes":
            blob = _mutate_bytes(blob, rng)
        path = folder / "case.csv"
    elif kind.startswith("npz"):
        buffer = io.BytesIO()
        shape = rng.choice([(rows, 3), (rows,), (rows, 2, 2), (0, 3), (rows, 3, 1, 1, 1)])
        x = np.random.default_rng(case["seed"]).normal(size=shape).astype(rng.choice(["float32", "float64",
                                                                                      "int64", "float16"]))
        y = np.arange(shape[0]) % 3 if rng.random() < 0.8 else np.array(["a"] * shape[0])
        np.savez(buffer, x=x, y=y)
        blob = buffer.getvalue()
        if kind == "npz-bytes":
            blob = _mutate_bytes(blob, rng)
        path = folder / "case.npz"
    else:
        dims = [rng.randint(0, 30), rng.randint(0, 8), rng.randint(0, 8)]
        if rng.random() < 0.3:
            dims[rng.randrange(3)] = rng.choice([2 ** 31 - 1, 100000])        # a header that lies
        body = bytes(rng.randrange(256) for _ in range(min(dims[0] * dims[1] * dims[2], 5000)))
        blob = struct.pack(">HBB", 0, 0x08, 3) + struct.pack(">3I", *dims) + body
        if kind == "idx-gz":
            blob = gzip.compress(blob)
            if rng.random() < 0.3:
                blob = blob[:len(blob) // 2]
        path = folder / ("case-images-idx3-ubyte" + (".gz" if kind == "idx-gz" else ""))
    path.write_bytes(blob)
    return path


def run_dataset(case: dict) -> str:
    from layerloom.data import load_dataset

    folder = Path(os.environ["LAYERLOOM_FUZZ_DIR"])
    path = _dataset_file(case, folder)
    settings = {"path": str(path)}
    if path.suffix == ".csv":
        settings["target_column"] = "label"
    load_dataset(settings)
    return "accepted"


def run_plugin(case: dict) -> str:
    folder = Path(os.environ["LAYERLOOM_FUZZ_DIR"]) / "plugins"
    folder.mkdir(exist_ok=True)
    for old in folder.glob("*.py"):
        old.unlink()
    source = HOSTILE_PLUGINS[case["name"]]
    if source.startswith(("INFER", "BUILD")):
        key, body = source.split(" = ", 1)
        body = body.strip()[1:-1].replace("; ", "\n    ")
        source = PLUGIN_TEMPLATE.format(prelude="", n="",
                                        infer=body if key == "INFER" else "return ctx.expect_float()",
                                        build=body if key == "BUILD" else "return torch.nn.Identity()")
    (folder / f"hostile_{case['name'].replace('-', '_')}.py").write_text(source, encoding="utf-8")
    graph = {"format": "layerloom-graph", "version": 1, "name": "p",
             "nodes": [{"id": "x", "type": "Input", "params": {"shape": [4]}},
                       {"id": "h", "type": "Hostile", "params": {}},
                       {"id": "o", "type": "Output", "params": {}}],
             "edges": [{"from": ["x", "out"], "to": ["h", "x"]}, {"from": ["h", "out"], "to": ["o", "in"]}]}
    graph_path = folder.parent / "plugin_graph.llgraph.json"
    graph_path.write_text(json.dumps(graph), encoding="utf-8")
    env = dict(os.environ, LAYERLOOM_PLUGIN_PATH=str(folder), LAYERLOOM_PLUGIN_TIMEOUT="2")
    env.pop("LAYERLOOM_NO_PLUGINS", None)
    cli = [sys.executable, "-m", "layerloom.cli"]
    for args in (["nodes"], ["check", "--json", str(graph_path)]):
        try:
            done = subprocess.run(cli + args, capture_output=True, text=True, timeout=15, env=env, cwd=ROOT)
        except subprocess.TimeoutExpired:   # (subprocess.run kills it)
            return f"hang: `{' '.join(args[:1])}` did not end within 15 s"
        if "Traceback" in done.stderr or "Traceback" in done.stdout:
            return f"crash: `{args[0]}` printed a traceback: {done.stderr.strip().splitlines()[-1][:200]}"
        if "--json" in args:
            try:
                json.loads(done.stdout)
            except ValueError:
                return "crash: `check --json` printed something that is not JSON"
        if args == ["nodes"] and "Hostile" not in done.stdout and "hostile_" not in done.stderr:
            return "crash: a plugin that failed to load was not reported on stderr"
    return "accepted" if done.returncode == 0 else "clear error"


RUNNERS = {"graphs": run_graph, "formulas": run_formula, "checkpoints": run_checkpoint,
           "datasets": run_dataset, "plugins": run_plugin}


def _worker(connection, folder: str) -> None:
    if hasattr(os, "setsid"):
        os.setsid()   # its own process group: a worker killed for a hang takes the CLI it started along
    os.environ["LAYERLOOM_FUZZ_DIR"] = folder
    os.environ.setdefault("LAYERLOOM_NO_PLUGINS", "1")
    import torch

    torch.set_num_threads(1)
    while True:
        message = connection.recv()
        if message is None:
            return
        category, case = message
        try:
            with contextlib_quiet():
                outcome = RUNNERS[category](case)
        except BaseException as exc:  # noqa: BLE001 - classifying every ending is the point
            if _is_clear(exc):
                outcome = "clear error"
            else:
                frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
                where = f" at {Path(frame.filename).name}:{frame.lineno}" if frame else ""
                outcome = f"crash: {type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}{where}"
        connection.send(outcome)


class Worker:
    def __init__(self, folder: str):
        self.folder = folder
        self._start()

    def _start(self):
        context = mp.get_context("spawn")
        self.connection, child = context.Pipe()
        self.process = context.Process(target=_worker, args=(child, self.folder), daemon=True)
        self.process.start()

    def run(self, category: str, case: dict, timeout: float, memory_mb: int) -> str:
        self.connection.send((category, case))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.connection.poll(0.05):
                try:
                    return self.connection.recv()
                except EOFError:
                    break
            if _rss_mb(self.process.pid) > memory_mb:
                self.restart()
                return f"memory: over {memory_mb} MiB"
            if not self.process.is_alive():
                break
        alive = self.process.is_alive()
        self.restart()
        return f"hang: no end within {timeout:.0f} s" if alive else "crash: the process died"

    def restart(self):
        try:
            os.killpg(self.process.pid, 9)
        except (AttributeError, OSError):
            self.process.kill()
        self.process.join()
        self._start()

    def close(self):
        self.connection.send(None)
        self.process.join(5)


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=200, help="cases per category (default 200)")
    parser.add_argument("--only", default=",".join(MAKERS), help="categories, comma-separated")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds before a case is a hang")
    parser.add_argument("--memory", type=int, default=3000, help="MiB before a case is a memory blow-up")
    parser.add_argument("--keep", type=Path, help="write the cases that crash, hang or lose data here")
    args = parser.parse_args(argv)
    categories = [c.strip() for c in args.only.split(",") if c.strip()]
    unknown = set(categories) - set(MAKERS)
    if unknown:
        parser.error(f"unknown categories: {', '.join(sorted(unknown))} (known: {', '.join(MAKERS)})")
    counts: dict[str, Counter] = defaultdict(Counter)
    findings: dict[str, Counter] = defaultdict(Counter)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="layerloom-fuzz-") as folder:
        worker = Worker(folder)
        try:
            for category in categories:
                rng = random.Random(f"{args.seed}-{category}")
                for index in range(args.cases):
                    case = MAKERS[category](rng)
                    outcome = worker.run(category, case, args.timeout, args.memory)
                    kind = next(o for o in sorted(OUTCOMES, key=len, reverse=True) if outcome.startswith(o))
                    counts[category][kind] += 1
                    if kind in BAD:
                        findings[category][outcome] += 1
                        if args.keep:
                            args.keep.mkdir(parents=True, exist_ok=True)
                            record = {"category": category, "outcome": outcome, "case": case}
                            (args.keep / f"{category}-{index:05d}.json").write_text(
                                json.dumps(record, indent=1, default=lambda b: base64.b64encode(b).decode()))
                    if sys.stderr.isatty():
                        print(f"\r{category}: {index + 1}/{args.cases}", end="", file=sys.stderr, flush=True)
                if sys.stderr.isatty():
                    print(file=sys.stderr)
        finally:
            worker.close()
    print(f"\n{'category':<12} {'tried':>6} " + " ".join(f"{o:>12}" for o in OUTCOMES))
    for category in categories:
        row = counts[category]
        print(f"{category:<12} {sum(row.values()):>6} " + " ".join(f"{row[o]:>12}" for o in OUTCOMES))
    for category, found in findings.items():
        for outcome, count in found.most_common(10):
            print(f"  {category}: {count} x {outcome}")
    print(f"\n{time.monotonic() - started:.0f} s; findings: {sum(sum(f.values()) for f in findings.values())}")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
