"""ONNX import speed, and the onnx package's real models checked against onnxruntime.

Default: build a ~5,000-operator ONNX model (a deep stack of Conv -> BatchNormalization -> Relu blocks with
residual Adds and a Transpose pair every few blocks, so some nodes are "ONNX operator" nodes), then time in
one process:

- the baseline: ``onnx.load`` + ``onnx.checker`` + ``onnx.shape_inference`` (what any ONNX tool pays);
- ``import_onnx`` as a whole (which includes the baseline, folding, mapping, analysis and layout);
- the graph's layout alone, and ``analyze`` alone (what the editor redoes on each edit);
- optionally (``--editor``) opening the saved graph in the editor offscreen, to the first paint.

Each is the median of ``--repeat`` runs, printed with its ratio to the baseline.

``--models``: import each of the onnx package's light models (ResNet-50, SqueezeNet, VGG-19, AlexNet,
DenseNet-121, Inception v1/v2, ShuffleNet, ZFNet) with random weights in place of their constant ones, and
compare with onnxruntime on the original file.

``--operators``: the package's single-operator models (pytorch-operator, pytorch-converted, simple) against
their stored outputs; the ones LayerLoom refuses are counted by reason.

Usage: python benchmarks/bench_import.py [--blocks 1250] [--repeat 3] [--editor] [--models] [--operators]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import onnx  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

LIGHT = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"
MODELS = ("resnet50", "squeezenet", "vgg19", "bvlc_alexnet", "densenet121", "inception_v1", "inception_v2",
          "shufflenet", "zfnet512")


def deep_model(blocks: int, channels: int = 8, size: int = 8) -> onnx.ModelProto:
    """``blocks`` residual blocks of Conv -> BatchNormalization -> Relu -> Add (4 operators each), a Transpose
    pair every 10 blocks, then GlobalAveragePool -> Flatten -> Gemm."""
    rng = np.random.default_rng(0)
    inits, nodes = [], []

    def const(name, array):
        inits.append(numpy_helper.from_array(array.astype(np.float32), name))
        return name

    x = "x"
    for b in range(blocks):
        w = const(f"b{b}.conv.weight", rng.standard_normal((channels, channels, 3, 3)) * 0.05)
        bn = [const(f"b{b}.bn.{k}", v) for k, v in (("weight", np.ones(channels)), ("bias", np.zeros(channels)),
                                                    ("mean", np.zeros(channels)), ("var", np.ones(channels)))]
        nodes += [helper.make_node("Conv", [x, w], [f"b{b}.c"], pads=[1, 1, 1, 1], name=f"b{b}/conv/Conv"),
                  helper.make_node("BatchNormalization", [f"b{b}.c", *bn], [f"b{b}.n"], name=f"b{b}/bn"),
                  helper.make_node("Relu", [f"b{b}.n"], [f"b{b}.r"], name=f"b{b}/relu"),
                  helper.make_node("Add", [f"b{b}.r", x], [f"b{b}.y"], name=f"b{b}/add")]
        x = f"b{b}.y"
        if b % 10 == 9:
            nodes += [helper.make_node("Transpose", [x], [f"b{b}.t"], perm=[0, 1, 3, 2]),
                      helper.make_node("Transpose", [f"b{b}.t"], [f"b{b}.u"], perm=[0, 1, 3, 2])]
            x = f"b{b}.u"
    fc_w = const("fc.weight", rng.standard_normal((10, channels)) * 0.1)
    fc_b = const("fc.bias", np.zeros(10))
    nodes += [helper.make_node("GlobalAveragePool", [x], ["gap"]), helper.make_node("Flatten", ["gap"], ["flat"]),
              helper.make_node("Gemm", ["flat", fc_w, fc_b], ["y"], transB=1)]
    graph = helper.make_graph(nodes, "deep", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                          ["n", channels, size, size])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 10])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def median_time(fn, repeat: int) -> tuple[float, object]:
    times, value = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), value


def bench_deep(blocks: int, repeat: int, editor: bool) -> None:
    from layerloom.importers.onnx_import import import_onnx, read_model
    from layerloom.importers.placement import readable_layout
    from layerloom.model.analysis import analyze
    from layerloom.model.layout import fit_scale, layout_extent

    folder = Path(tempfile.mkdtemp(prefix="bench_import_"))
    path = folder / "deep.onnx"
    onnx.save(deep_model(blocks), str(path))
    operators = len(onnx.load(str(path)).graph.node)
    baseline, _ = median_time(lambda: read_model(path), repeat)
    total, result = median_time(lambda: import_onnx(path), repeat)
    graph = result.graph
    layout, positions = median_time(lambda: readable_layout(graph), repeat)
    analysis_time, analysis = median_time(lambda: analyze(graph), repeat)
    onnx_ops = sum(1 for n in graph if n.type_id == "ONNX operator")
    print(f"model: {operators:,} ONNX operators -> {len(graph):,} nodes ({onnx_ops} ONNX operator nodes), "
          f"{path.stat().st_size / 2**20:.1f} MiB; analysis ok: {analysis.ok}")
    print(f"  baseline (onnx.load + checker + shape inference): {baseline * 1000:8.0f} ms   1.00x")
    print(f"  import_onnx (all of it):                         {total * 1000:8.0f} ms   {total / baseline:5.2f}x")
    print(f"  layout alone:                                    {layout * 1000:8.0f} ms   {layout / baseline:5.2f}x")
    print(f"  analyze alone:                                   {analysis_time * 1000:8.0f} ms   "
          f"{analysis_time / baseline:5.2f}x")
    extent = layout_extent(graph, positions)
    print(f"  layout: {extent[0]:,.0f} x {extent[1]:,.0f} px, Zoom to Fit at {fit_scale(extent):.1%}")
    if editor:
        graph_path, _ = result.save(folder / "deep.llgraph.json")
        runs = [_open_in_editor(graph_path) for _ in range(max(1, repeat // 2))]
        opened, zoom = statistics.median(r[0] for r in runs), runs[-1][1]
        print(f"  editor: open + first paint:                     {opened * 1000:8.0f} ms   "
              f"{opened / baseline:5.2f}x   (opens at {zoom:.0%}; target 1.5 s per 1,000 nodes: "
              f"{1.5 * len(graph) / 1000:.1f} s)")


def _open_in_editor(graph_path: Path):
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from layerloom.nodeeditor.window.main_window import EditorWindow

    app = QApplication.instance() or QApplication([])
    settings = QSettings(str(graph_path.parent / "settings.ini"), QSettings.Format.IniFormat)
    window = EditorWindow(settings)
    window.resize(1366, 768)
    window.show()
    app.processEvents()
    started = time.perf_counter()
    window.open_path(graph_path, remember=False)
    app.processEvents()
    window.grab()
    elapsed = time.perf_counter() - started
    zoom = window.view.zoom
    window.document.undo_stack.setClean()
    window.close()
    return elapsed, zoom


def materialized(source: Path, target: Path, seed: int = 0) -> Path:
    """A copy of a light model whose ConstantOfShape weights are random initializers."""
    model = onnx.load(str(source))
    rng = np.random.default_rng(seed)
    inits = {init.name: init for init in model.graph.initializer}
    kept = []
    for node in model.graph.node:
        if node.op_type == "ConstantOfShape" and node.input[0] in inits:
            shape = numpy_helper.to_array(inits[node.input[0]]).tolist()
            fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 10
            values = (rng.standard_normal(shape) / np.sqrt(fan_in)).astype(np.float32)
            if len(shape) == 1:
                values = np.abs(values) + 0.5
            model.graph.initializer.append(numpy_helper.from_array(values, node.output[0]))
            model.graph.input.append(helper.make_tensor_value_info(node.output[0], TensorProto.FLOAT, shape))
        else:
            kept.append(node)
    del model.graph.node[:]
    model.graph.node.extend(kept)
    onnx.save(model, str(target))
    return target


def check_models() -> bool:
    from layerloom.importers.check import compare_with_onnxruntime
    from layerloom.importers.onnx_import import import_onnx

    folder = Path(tempfile.mkdtemp(prefix="light_models_"))
    ok = True
    for name in MODELS:
        path = materialized(LIGHT / f"light_{name}.onnx", folder / f"{name}.onnx")
        started = time.perf_counter()
        result = import_onnx(path)
        seconds = time.perf_counter() - started
        check = compare_with_onnxruntime(result, path)
        kept = sum(1 for n in result.graph if n.type_id == "ONNX operator")
        ok = ok and check.ok
        print(f"{name:13s} {len(result.graph):5,} nodes ({kept:3d} ONNX operator) imported in {seconds:5.2f} s; "
              f"{check.describe()}")
    return ok


def check_operator_models() -> bool:
    """The onnx package's small single-operator models (with stored inputs and outputs): each one LayerLoom
    opens must give the stored outputs; the ones it refuses are counted with the first reason."""
    import collections
    import warnings

    import torch

    from layerloom.compiler import compile_graph, python_name
    from layerloom.importers.onnx_import import import_onnx
    from layerloom.importers.report import ModelImportError
    from layerloom.training.start_weights import fit_weights

    data = LIGHT.parent
    counts, wrong, reasons = collections.Counter(), [], collections.Counter()
    for folder in sorted(p for kind in ("pytorch-operator", "pytorch-converted", "simple")
                         for p in (data / kind).glob("test_*")):
        model = onnx.load(str(folder / "model.onnx"))
        inputs = [numpy_helper.to_array(onnx.load_tensor(str(p))) for p in sorted(folder.glob("test_data_set_0/input_*.pb"))]
        expected = [numpy_helper.to_array(onnx.load_tensor(str(p)))
                    for p in sorted(folder.glob("test_data_set_0/output_*.pb"))]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = import_onnx(folder / "model.onnx")
        except ModelImportError as exc:
            counts["refused"] += 1
            reasons[str(exc).split(": ", 1)[-1][:70]] += 1
            continue
        compiled = compile_graph(result.graph, seed=0)
        fit_weights(compiled.model, result.weights)
        initializers = {i.name for i in model.graph.initializer}
        names = [i.name for i in model.graph.input if i.name not in initializers]
        feed = {python_name(name): array for name, array in zip(names, inputs)}
        with torch.no_grad():
            got = compiled.model.eval()(*[torch.from_numpy(np.array(feed[e.name])) for e in compiled.inputs])
        got = got if isinstance(got, tuple) else (got,)
        same = all(g.shape == e.shape and np.allclose(g.numpy(), e, atol=1e-4, rtol=1e-3, equal_nan=True)
                   for g, e in zip(got, expected))
        counts["match" if same else "DIFFER"] += 1
        if not same:
            wrong.append(folder.name)
    print(f"single-operator models: {counts['match']} match their stored outputs, {counts['DIFFER']} differ "
          f"{wrong}, {counts['refused']} refused:")
    for reason, n in reasons.most_common():
        print(f"  {n:3d} x {reason}")
    return not wrong


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=1250, help="residual blocks (4 operators each)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--editor", action="store_true", help="also open the imported graph in the editor")
    parser.add_argument("--models", action="store_true", help="check the onnx package's light models instead")
    parser.add_argument("--operators", action="store_true",
                        help="check the onnx package's single-operator models against their stored outputs instead")
    args = parser.parse_args()
    if args.models:
        return 0 if check_models() else 1
    if args.operators:
        return 0 if check_operator_models() else 1
    bench_deep(args.blocks, args.repeat, args.editor)
    return 0


if __name__ == "__main__":
    sys.exit(main())
