"""Blocks: reusable subgraphs with params compile to nested modules equal to hand-written torch,
nest and repeat into the expected module tree, group/ungroup round-trip, refuse recursion, and
save, load, go through a block library and export to ONNX."""

from __future__ import annotations

import pytest
import torch
from helpers import add, chain, nested_blocks_graph, residual_def
from torch import nn

from layerloom import Graph, analyze, compile_graph, dumps_graph, loads_graph
from layerloom.files.block_library import load_block_library, save_block_library
from layerloom.model.blocks import (BlockError, expansion_stats, group_nodes, import_plan, install_block, owning_block,
                                   preview_analysis, ungroup)


def cnn(channels: int = 8) -> Graph:
    g = Graph(name="rescnn")
    g.define_block("Residual", residual_def())
    x = add(g, "Input", "image", shape=[3, 8, 8])
    stem = add(g, "Conv2d", "stem", out_channels=channels, kernel_size=3, padding=1)
    res1 = g.add_node("Block:Residual", "res1", {"channels": channels}, node_id="res1")
    res2 = g.add_node("Block:Residual", "res2", {"channels": channels}, node_id="res2")
    out = add(g, "Output", "features")
    chain(g, x, stem, res1, res2, out)
    return g


class HandResidual(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x):
        return self.conv2(self.relu(self.conv1(x))) + x


class HandCnn(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.stem = nn.Conv2d(3, channels, 3, padding=1)
        self.res1 = HandResidual(channels)
        self.res2 = HandResidual(channels)

    def forward(self, x):
        return self.res2(self.res1(self.stem(x)))


def test_residual_block_with_a_param_equals_hand_written_torch():
    graph = cnn(8)
    analysis = analyze(graph)
    assert analysis.ok, analysis.problems
    assert analysis.output_spec("res2").shape == ("N", 8, 8, 8)
    hand = HandCnn(8)
    assert analysis.total_params == sum(p.numel() for p in hand.parameters())
    compiled = compile_graph(graph, seed=0)
    # Same names, same shapes: the state dicts line up key for key (strict load).
    hand.load_state_dict(compiled.model.state_dict(), strict=True)
    x = torch.randn(4, 3, 8, 8)
    torch.testing.assert_close(compiled.model(x), hand(x))
    assert compiled.module_names["res1"] == "res1"


def test_block_param_reaches_the_inside():
    graph = cnn(8)
    graph.set_param("res2", "channels", 4)  # the skip connection then adds 4 channels to 8
    problems = analyze(graph).problems_for("res2")
    assert problems and "inside block 'Residual'" in problems[0].message and "Add" in problems[0].message


def inner_analyses(fn) -> int:
    """How many block insides ``fn()`` analysed."""
    before = expansion_stats.analyses
    fn()
    return expansion_stats.analyses - before


def test_nested_blocks_cost_one_inner_analysis_per_level_shared_by_counts_and_compile():
    costs = []
    for depth in range(1, 7):
        graph = nested_blocks_graph(depth)
        analysis = None

        def analyse():
            nonlocal analysis
            analysis = analyze(graph)

        costs.append(inner_analyses(analyse))
        assert analysis.ok, analysis.problems
        assert analysis.total_params == depth * (4 * 4 + 4)  # the parameter count asked no more
        # Without an edit between, nothing is analysed again: not to analyse, nor to compile.
        assert inner_analyses(lambda: analyze(graph)) == 0
        compiled = []
        assert inner_analyses(lambda: compiled.append(compile_graph(graph, seed=0))) == 0
        model = compiled[0].model
        assert compiled[0].parameter_count() == analysis.total_params
        assert model(torch.randn(2, 4)).shape == (2, 4)
        assert "block" + ".inner" * (depth - 1) + ".fc" in dict(model.named_modules())
    assert costs == [1, 2, 3, 4, 5, 6]  # linear (before the shared expansion: 2, 6, 14, 30, 62, 126)


def test_every_edit_is_seen_by_the_next_analysis_and_compile_never_a_stale_inside():
    graph = nested_blocks_graph(3)
    assert analyze(graph).output_spec("block", "y").shape == ("N", 4)
    revision = graph.blocks.revision

    # Moving a node (inside a block or out) changes no shape: nothing is analysed again for it.
    graph.blocks["L1"].graph.move_node("fc", 10.0, 20.0)
    graph.move_node("block", 5.0, 5.0)
    assert inner_analyses(lambda: analyze(graph)) == 0
    # An edit inside the innermost block: every level above it expands again, once.
    graph.blocks["L1"].graph.set_param("fc", "out_features", 6)
    assert graph.blocks.revision > revision
    assert inner_analyses(lambda: analyze(graph)) == 3
    analysis = analyze(graph)
    assert analysis.output_spec("block", "y").shape == ("N", 6)
    assert analysis.total_params == 2 * (4 * 4 + 4) + (4 * 6 + 6)
    model = compile_graph(graph, seed=0).model
    assert model(torch.randn(2, 4)).shape == (2, 6)

    # A block defined anew, an instance's param and the tensor arriving: each one seen at once.
    l1 = graph.blocks["L1"].to_dict()
    l1["nodes"][1]["params"]["out_features"] = 5
    graph.define_block("L1", l1)
    assert analyze(graph).output_spec("block", "y").shape == ("N", 5)
    graph.set_param("block", "repeat", 2)  # 4 -> 5, then 5 -> 5: two different insides
    analysis = analyze(graph)
    assert analysis.output_spec("block", "y").shape == ("N", 5)
    assert analysis.total_params == compile_graph(graph, seed=0).parameter_count()
    graph.set_param("x", "shape", [7])
    # Repetition 1 takes 7 features and repetition 2 the 5 that the first gives: 7 -> 4 -> 4 -> 5 -> 4 -> 4 -> 5.
    assert analyze(graph).nodes["block"].param_count == (7 * 4 + 4) + 20 + (4 * 5 + 5) + (5 * 4 + 4) + 20 + (4 * 5 + 5)


def test_instances_alike_share_one_expansion_and_a_refusal_is_kept_too():
    graph = cnn(8)
    assert inner_analyses(lambda: analyze(graph)) == 1  # res1 and res2: same block, params and input
    graph.set_param("res2", "channels", 4)
    first = []
    assert inner_analyses(lambda: first.append(analyze(graph))) == 2  # the edit: res1 again, res2 refused
    again = []
    assert inner_analyses(lambda: again.append(analyze(graph))) == 0
    refusal = [p.message for p in first[0].problems_for("res2")]
    assert refusal and [p.message for p in again[0].problems_for("res2")] == refusal
    graph.set_param("res2", "channels", 8)
    assert analyze(graph).ok


def test_nested_and_repeated_blocks_compile_to_the_expected_module_tree():
    graph = cnn(8)
    graph.define_block("Stage", {
        "inputs": ["x"], "outputs": ["y"], "params": [{"name": "width", "kind": "int", "default": 8}],
        "nodes": [
            {"id": "x", "type": "Input", "name": "x", "params": {"shape": [8, 8, 8]}},
            {"id": "first", "type": "Block:Residual", "name": "first", "params": {"channels": "$width"}},
            {"id": "act", "type": "ReLU", "name": "act", "params": {}},
            {"id": "y", "type": "Output", "name": "y", "params": {}},
        ],
        "edges": [{"from": ["x", "out"], "to": ["first", "x"]}, {"from": ["first", "y"], "to": ["act", "in"]},
                  {"from": ["act", "out"], "to": ["y", "in"]}],
    })
    graph.remove_node("res2")
    stage = graph.add_node("Block:Stage", "stage", {"width": 8, "repeat": 3}, node_id="stage")
    graph.connect("res1", "y", "stage", "x")
    graph.connect("stage", "y", "features", "in")
    compiled = compile_graph(graph, seed=0)
    names = {name for name, _ in compiled.model.named_modules()}
    expected = {"stem", "res1", "res1.conv1", "res1.relu", "res1.conv2", "stage"}
    expected |= {f"stage.{i}{suffix}" for i in range(3)
                 for suffix in ("", ".first", ".first.conv1", ".first.relu", ".first.conv2", ".act")}
    assert names - {""} == expected
    assert isinstance(compiled.model.stage, nn.Sequential)
    assert analyze(graph).total_params == compiled.parameter_count()
    y = compiled.model(torch.randn(2, 3, 8, 8))
    assert y.shape == (2, 8, 8, 8)


def test_repeat_needs_one_input_and_one_output():
    graph = Graph(name="two")
    graph.define_block("Pair", {
        "inputs": ["a"], "outputs": ["p", "q"], "params": [],
        "nodes": [{"id": "a", "type": "Input", "name": "a", "params": {"shape": [4]}},
                  {"id": "p", "type": "Output", "name": "p", "params": {}},
                  {"id": "q", "type": "Output", "name": "q", "params": {}}],
        "edges": [{"from": ["a", "out"], "to": ["p", "in"]}, {"from": ["a", "out"], "to": ["q", "in"]}],
    })
    x = add(graph, "Input", "x", shape=[4])
    pair = graph.add_node("Block:Pair", "pair", {"repeat": 2}, node_id="pair")
    graph.connect(x.id, "out", "pair", "a")
    for port in ("p", "q"):
        graph.connect("pair", port, add(graph, "Output", f"out_{port}").id, "in")
    problems = analyze(graph).problems_for("pair")
    assert problems and problems[0].param == "repeat"
    graph.set_param("pair", "repeat", 1)
    assert analyze(graph).ok


@pytest.mark.parametrize("through", ["Residual", "Outer"])
def test_a_block_containing_itself_is_refused(through):
    graph = cnn(8)
    outer = residual_def()
    outer["nodes"][2] = {"id": "relu", "type": "Block:Residual", "name": "relu", "params": {}}
    outer["edges"][1]["to"] = ["relu", "x"]
    outer["edges"][2]["from"] = ["relu", "y"]
    if through == "Outer":  # Outer uses Residual, then Residual is redefined to use Outer
        graph.define_block("Outer", outer)
        inner = residual_def()
        inner["nodes"][2] = dict(outer["nodes"][2], type="Block:Outer")
        inner["edges"] = outer["edges"]
        with pytest.raises(BlockError, match=r"'Residual' would contain itself \(Residual -> Outer -> Residual\)"):
            graph.define_block("Residual", inner)
    else:
        with pytest.raises(BlockError, match=r"'Residual' would contain itself \(Residual -> Residual\)"):
            graph.define_block("Residual", outer)
    assert analyze(graph).ok  # nothing changed


def test_a_file_with_a_recursive_block_opens_and_names_it():
    graph = cnn(8)
    data = residual_def()
    data["nodes"][2] = {"id": "relu", "type": "Block:Residual", "name": "relu", "params": {}}
    text = dumps_graph(graph).replace('"blocks": {', '"blocks": {"Loop": ' + __import__("json").dumps(data) + ", ")
    text = text.replace('"type": "Block:Residual", "name": "relu"', '"type": "Block:Loop", "name": "relu"')
    loaded = loads_graph(text)
    loaded.set_param("res1", "channels", 8)
    loaded.remove_node("res1")
    looped = loaded.add_node("Block:Loop", "loop", {"channels": 8}, node_id="loop")
    loaded.connect("stem", "out", "loop", "x")
    loaded.connect("loop", "y", "res2", "x")
    messages = [p.message for p in analyze(loaded).problems_for("loop")]
    assert any("block 'Loop' contains itself (Loop -> Loop)" in m for m in messages), messages


def test_save_and_load_round_trip_byte_for_byte(tmp_path):
    graph = cnn(8)
    text = dumps_graph(graph)
    assert '"blocks"' in text and '"$channels"' in text
    loaded = loads_graph(text)
    assert dumps_graph(loaded) == text
    assert dumps_graph(loaded.copy()) == text
    a, b = compile_graph(graph, seed=3), compile_graph(loaded, seed=3)
    x = torch.randn(2, 3, 8, 8)
    torch.testing.assert_close(a.model(x), b.model(x))


def test_block_library_round_trip(tmp_path):
    graph = cnn(8)
    path = tmp_path / "mine.llblocks.json"
    save_block_library(path, graph.blocks)
    library = load_block_library(path)
    assert list(library) == ["Residual"]
    other = Graph(name="rescnn")
    other.define_block("Residual", library["Residual"])
    for node in graph:
        other.add_node(node.type_id, node.name, node.params, node_id=node.id)
    for edge in graph.edges:
        other.connect(edge.src, edge.src_port, edge.dst, edge.dst_port)
    assert dumps_graph(other) == dumps_graph(graph)
    save_block_library(tmp_path / "again.json", library)
    assert (tmp_path / "again.json").read_bytes() == path.read_bytes()


def plain_residual_cnn() -> Graph:
    g = Graph(name="plain")
    x = add(g, "Input", "image", shape=[3, 8, 8])
    stem = add(g, "Conv2d", "stem", out_channels=8, kernel_size=3, padding=1)
    conv1 = add(g, "Conv2d", "conv1", out_channels=8, kernel_size=3, padding=1)
    relu = add(g, "ReLU", "relu")
    conv2 = add(g, "Conv2d", "conv2", out_channels=8, kernel_size=3, padding=1)
    plus = add(g, "Add", "plus")
    out = add(g, "Output", "features")
    chain(g, x, stem, conv1, relu, conv2)
    g.connect("conv2", "out", "plus", "in1")
    g.connect("stem", "out", "plus", "in2")
    g.connect("plus", "out", out.id, "in")
    for k, node in enumerate(g):
        g.move_node(node.id, 100.0 * k, 0.0)
    return g


def test_group_then_ungroup_gives_back_the_same_file():
    graph = plain_residual_cnn()
    before = dumps_graph(graph)
    seen = []
    graph.events.node_added.subscribe(lambda node: seen.append(node.id))
    block, instance = group_nodes(graph, ["conv1", "relu", "conv2", "plus"], "Res")
    assert block.inputs == ("in",) and block.outputs == ("out",)
    assert [n.id for n in graph] == ["image", "stem", instance, "features"]
    assert {(e.src, e.dst) for e in graph.edges} == {("image", "stem"), ("stem", instance), (instance, "features")}
    assert analyze(graph).ok
    assert compile_graph(graph).model(torch.randn(2, 3, 8, 8)).shape == (2, 8, 8, 8)
    assert seen == [instance]  # the instance was added through the public API, announced
    ungroup(graph, instance)
    assert graph.blocks == {}
    assert dumps_graph(graph) == before


def test_group_refuses_a_selection_a_path_leaves_and_reenters():
    graph = plain_residual_cnn()
    with pytest.raises(BlockError, match="leaving it and coming back"):
        group_nodes(graph, ["conv1", "plus"], "Bad")
    with pytest.raises(BlockError, match="only layers"):
        group_nodes(graph, ["image", "stem"], "Bad")
    assert graph.blocks == {}


def test_ungroup_substitutes_params():
    graph = cnn(4)
    ungroup(graph, "res1")
    assert graph.node("conv1").params["out_channels"] == 4
    assert "Residual" in graph.blocks  # res2 still uses it
    assert analyze(graph).ok


@pytest.mark.slow
def test_a_block_exports_to_onnx_and_verifies(tmp_path):
    from layerloom.export import export_onnx, verify_onnx
    from layerloom.export.source import Exportable

    graph = cnn(8)
    graph.node("res2").params["repeat"] = 2
    exportable = Exportable(graph, compile_graph(graph, seed=0))
    exportable.model.eval()
    path = export_onnx(exportable, tmp_path / "blocks.onnx")
    report = verify_onnx(path, exportable, repeats=2)
    assert report.ok, report.describe()


def test_ports_follow_the_inside_and_keep_their_listed_order():
    graph = cnn(4)
    block = graph.blocks["Residual"]
    inside = block.graph
    inside.add_node("Input", "skip", {"shape": [4, 8, 8]}, node_id="skip")
    inside.add_node("Output", "copy", node_id="copy")
    inside.connect("conv1", "out", "copy", "in")
    assert block.inputs == ("x", "skip") and block.outputs == ("y", "copy")
    assert [p.name for p in graph.spec("res1").inputs] == ["x", "skip"]
    removed = inside.remove_node("x")
    assert block.inputs == ("skip",)
    inside.add_node("Input", "x", removed.params, node_id="x")  # back (as undo does): first again
    assert block.inputs == ("x", "skip")
    assert block.to_dict()["inputs"] == ["x", "skip"]


def test_import_plan_renames_on_a_clash_and_reuses_an_identical_block():
    source = cnn(4)
    target = Graph(name="target")
    target.define_block("Residual", {"inputs": ["a"], "outputs": ["b"], "nodes": [
        {"id": "a", "type": "Input", "name": "a", "params": {"shape": [2]}},
        {"id": "b", "type": "Output", "name": "b", "params": {}}],
        "edges": [{"from": ["a", "out"], "to": ["b", "in"]}]})
    outer = group_nodes(source, ["res1", "res2"], "Pair")[0]
    assert outer.uses() == {"Residual"}
    plan, names = import_plan(target, {"Residual": source.blocks["Residual"], "Pair": source.blocks["Pair"]})
    assert names == {"Residual": "Residual_2", "Pair": "Pair"}
    assert [b.name for b in plan] == ["Residual_2", "Pair"]  # what a block uses comes first
    assert {n.type_id for n in plan[1].graph} >= {"Block:Residual_2"}
    for block in plan:
        install_block(target, block.name, block)
    again, names = import_plan(target, {"Residual": source.blocks["Residual"]})
    assert again == [] and names == {"Residual": "Residual_2"}


def test_the_inside_is_previewed_with_an_instance_values_and_the_catalog_lists_blocks():
    graph = cnn(4)
    inside = graph.blocks["Residual"].graph
    assert preview_analysis(inside).nodes["conv1"].outputs["out"].shape[1] == 16  # the default channels
    assert preview_analysis(inside, {"channels": 4}).nodes["conv1"].outputs["out"].shape[1] == 4
    assert "Block:Residual" in [spec.type_id for spec in graph.catalog]
    assert [s.type_id for s in graph.catalog.categories()["Blocks"]] == ["Block:Residual"]
    assert owning_block(inside) is graph.blocks["Residual"] and owning_block(graph) is None


def test_a_stray_node_inside_a_block_is_not_counted_in_its_instances():
    """The instance's count is what it trains: a node left unwired inside the block is shown there, never
    built, so the card, the total and the compiled model agree."""
    g = Graph(name="stray")
    g.define_block("Unit", {"inputs": ["x"], "outputs": ["y"], "nodes": [
        {"id": "x", "type": "Input", "name": "x", "params": {"shape": [8]}},
        {"id": "fc", "type": "Linear", "name": "fc", "params": {"out_features": 8}},
        {"id": "spare", "type": "Linear", "name": "spare", "params": {"out_features": 100}},
        {"id": "y", "type": "Output", "name": "y", "params": {}}],
        "edges": [{"from": ["x", "out"], "to": ["fc", "in"]}, {"from": ["fc", "out"], "to": ["y", "in"]},
                  {"from": ["x", "out"], "to": ["spare", "in"]}]})   # spare leads nowhere
    x = add(g, "Input", "x", shape=[8])
    unit = g.add_node("Block:Unit", "unit", node_id="unit")
    chain(g, x, unit, add(g, "Output", "out"))
    analysis = analyze(g)
    model = compile_graph(g).model
    assert analysis.nodes["unit"].param_count == sum(p.numel() for p in model.parameters()) == 8 * 8 + 8
    assert analysis.total_params == 72
