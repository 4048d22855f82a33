"""Validation: every kind of mistake is reported once, keyed by node and port, in words."""

from __future__ import annotations

from helpers import add, chain, mlp_graph

from layerloom import Graph, analyze
from layerloom.model.analysis import ERROR, WARNING


def codes(analysis, severity=None):
    return sorted((p.code, p.node_id, p.port) for p in analysis.problems
                  if severity is None or p.severity == severity)


def only(analysis, code):
    found = [p for p in analysis.problems if p.code == code]
    assert len(found) == 1, [str(p) for p in analysis.problems]
    return found[0]


def test_valid_graph_has_no_problems_and_full_shapes():
    a = analyze(mlp_graph())
    assert a.ok and a.problems == []
    assert str(a.nodes["fc1"].output) == "[N, 32]"
    assert str(a.nodes["loss"].output) == "[]"
    assert a.nodes["fc1"].param_count == 64 * 32 + 32
    assert a.total_params == (64 * 32 + 32) + (32 * 10 + 10)
    assert {str(e): str(s) for e, s in a.edge_specs.items()}["fc1.out -> relu1.in"] == "[N, 32]"


def test_cycle_is_reported_on_each_member_with_the_path():
    g = mlp_graph()
    g.connect("fc2", "out", "fc1", "in", check=False)  # fc1 now has two inputs and sits in a cycle
    a = analyze(g)
    cycle = [p for p in a.problems if p.code == "cycle"]
    assert {p.node_id for p in cycle} == {"fc1", "relu1", "fc2"}
    assert "fc1 -> relu1 -> fc2 -> fc1" in next(p for p in cycle if p.node_id == "fc1").message
    assert not a.ok


def test_unconnected_required_input():
    g = mlp_graph()
    g.disconnect(next(e for e in g.edges if e.dst == "relu1"))
    p = only(analyze(g), "unconnected")
    assert (p.node_id, p.port, p.severity) == ("relu1", "in", ERROR)
    assert p.describe() == "ReLU \"relu1\": input 'in' is not connected"


def test_two_edges_into_one_input():
    g = mlp_graph()
    add(g, "Input", "other", shape=[64])
    g.connect("other", "out", "fc1", "in", check=False)
    p = only(analyze(g), "multiple_edges")
    assert (p.node_id, p.port) == ("fc1", "in")
    assert "receives 2 wires (image, other)" in p.message


def test_no_input_and_no_output():
    g = Graph()
    add(g, "ReLU", "lonely")
    a = analyze(g)
    assert {"no_input", "no_output"} <= {p.code for p in a.problems}
    assert all(p.node_id is None for p in a.problems if p.code in ("no_input", "no_output"))


def test_loss_without_output_asks_for_an_output():
    g = mlp_graph()
    g.remove_node("logits")
    assert "no Output" in only(analyze(g), "no_output").message


def test_loss_with_missing_prediction_or_target():
    g = mlp_graph()
    g.disconnect(next(e for e in g.edges if e.dst == "loss" and e.dst_port == "target"))
    p = only(analyze(g), "loss_unconnected")
    assert (p.node_id, p.port) == ("loss", "target")
    assert "connect a Target node" in p.message
    g.disconnect(next(e for e in g.edges if e.dst == "loss" and e.dst_port == "pred"))
    preds = [p for p in analyze(g).problems if p.code == "loss_unconnected" and p.port == "pred"]
    assert preds and "model's last layer" in preds[0].message


def test_unknown_node_type_on_the_main_path_is_an_error():
    g = mlp_graph()
    g.remove_node("relu1")
    g.add_node("Mish", "act", node_id="act", check=False)
    g.connect("fc1", "out", "act", "in", check=False)
    g.connect("act", "out", "fc2", "in", check=False)
    p = only(analyze(g), "unknown_type")
    assert p.severity == ERROR and "'Mish'" in p.message and "plugin" in p.message
    assert analyze(g).nodes["fc2"].outputs == {}  # downstream inference is skipped, not guessed


def test_param_of_wrong_type_or_out_of_range():
    g = mlp_graph()
    g.set_param("fc1", "out_features", "wide", check=False)
    g.set_param("fc2", "out_features", 0, check=False)
    a = analyze(g)
    bad = sorted((p.node_id, p.param, p.message) for p in a.problems if p.code == "bad_param")
    assert bad == [("fc1", "out_features", "parameter out_features: expected a whole number, got 'wide'"),
                   ("fc2", "out_features", "parameter out_features: must be at least 1, got 0")]


def test_unknown_params_are_warnings_not_errors():
    g = mlp_graph()
    g.set_param("fc1", "units", 3, check=False)
    a = analyze(g)
    assert a.ok
    assert codes(a) == [("unknown_param", "fc1", None)]


def test_output_not_reachable_from_an_input():
    g = mlp_graph(with_loss=False)
    g.remove_node("image")
    # fc1 now has no input: that is the one error; the Output is not additionally blamed.
    assert codes(analyze(g), ERROR) == [("no_input", None, None), ("unconnected", "fc1", "in")]


def test_output_fed_by_a_target_only_is_unreachable():
    g = Graph()
    add(g, "Input", "x", shape=[3])
    t = add(g, "Target", "y", dtype="float32", shape=[3])
    fc = add(g, "Linear", "fc", out_features=3)
    out = add(g, "Output", "out")
    loss = add(g, "MSELoss", "loss")
    g.connect(t.id, "out", fc.id, "in", check=False)  # not allowed by the editor, possible in a file
    chain(g, fc, out)
    g.connect("fc", "out", "loss", "pred")
    g.connect("y", "out", "loss", "target")
    a = analyze(g)
    assert ("kind_mismatch", "fc", "in") in codes(a, ERROR)


def test_shape_error_names_node_port_and_fix():
    g = Graph()
    x = add(g, "Input", "image", shape=[1, 8, 8])
    conv = add(g, "Conv2d", "conv", out_channels=32, kernel_size=3, padding=1)
    pool = add(g, "MaxPool2d", "pool", kernel_size=2)
    fc1 = add(g, "Linear", "fc1", out_features=10)
    out = add(g, "Output", "out")
    chain(g, x, conv, pool, fc1, out)
    p = only(analyze(g), "shape")
    assert (p.node_id, p.port) == ("fc1", "in")
    assert p.describe() == ('Linear "fc1": expects [N, features] but receives [N, 32, 4, 4]; '
                            'insert a Flatten before it')


def test_stray_nodes_only_warn_and_do_not_block():
    g = mlp_graph()
    add(g, "Linear", "stray")  # unconnected input, leads nowhere
    a = analyze(g)
    assert a.ok
    assert codes(a) == [("unconnected", "stray", "in"), ("unused", "stray", None)]
    assert all(p.severity == WARNING for p in a.problems)


def test_unused_target_warns():
    g = mlp_graph()
    add(g, "Target", "spare")
    p = only(analyze(g), "unused")
    assert "not connected to a loss" in p.message


def test_edge_into_a_port_that_no_longer_exists():
    g = Graph()
    a_in = add(g, "Input", "a", shape=[4])
    b_in = add(g, "Input", "b", shape=[4])
    c_in = add(g, "Input", "c", shape=[4])
    cat = add(g, "Concat", "cat", inputs=3)
    out = add(g, "Output", "out")
    g.connect(a_in.id, "out", "cat", "in1")
    g.connect(b_in.id, "out", "cat", "in2")
    g.connect(c_in.id, "out", "cat", "in3")
    chain(g, cat, out)
    assert str(analyze(g).nodes["cat"].output) == "[N, 12]"
    g.set_param("cat", "inputs", 2)
    p = only(analyze(g), "missing_port")
    assert (p.node_id, p.port) == ("cat", "in3") and "raise inputs" in p.message


def test_duplicate_names_warn():
    g = mlp_graph()
    g.node("fc2").name = "fc1"  # bypassing rename_node, as a hand-edited file could
    assert ("duplicate_name", "fc2", None) in codes(analyze(g), WARNING)


def test_plugin_inference_crash_is_reported_not_raised():
    from layerloom.catalog.spec import NodeSpec

    catalog = Graph().catalog.copy()

    def broken(ctx):
        raise ZeroDivisionError("oops")

    catalog.register(NodeSpec("Broken", "Test", "raises", infer=broken))
    g = Graph(catalog)
    x = add(g, "Input", "x", shape=[2])
    b = add(g, "Broken", "b")
    out = add(g, "Output", "out")
    chain(g, x, b, out)
    p = only(analyze(g), "shape")
    assert "ZeroDivisionError: oops" in p.message and p.node_id == "b"


def test_multi_input_multi_output_graph_infers_every_edge():
    g = Graph()
    img = add(g, "Input", "image", shape=[1, 8, 8])
    meta = add(g, "Input", "meta", shape=[3])
    conv = add(g, "Conv2d", "conv", out_channels=4, kernel_size=3)
    flat = add(g, "Flatten", "flat")
    cat = add(g, "Concat", "cat")
    head_a = add(g, "Linear", "head_a", out_features=10)
    head_b = add(g, "Linear", "head_b", out_features=1)
    out_a = add(g, "Output", "classes")
    out_b = add(g, "Output", "score")
    chain(g, img, conv, flat)
    g.connect("flat", "out", "cat", "in1")
    g.connect("meta", "out", "cat", "in2")
    chain(g, cat, head_a, out_a)
    g.connect("cat", "out", "head_b", "in")
    chain(g, head_b, out_b)
    a = analyze(g)
    assert a.ok, [str(p) for p in a.problems]
    assert str(a.nodes["cat"].output) == "[N, 147]"  # 4*6*6 + 3
    assert len(a.edge_specs) == len(g.edges)


def test_output_fed_only_by_a_source_that_is_not_an_input_is_unreachable():
    from layerloom.core.shapes import batched
    from layerloom.catalog.spec import NodeSpec

    catalog = Graph().catalog.copy()
    catalog.register(NodeSpec("Noise", "Test", "a source with no inputs", inputs=(),
                              infer=lambda ctx: batched((4,))))
    g = Graph(catalog)
    add(g, "Input", "x", shape=[4])
    noise = add(g, "Noise", "noise")
    out = add(g, "Output", "out")
    chain(g, noise, out)
    p = only(analyze(g), "unreachable")
    assert (p.node_id, p.severity) == ("out", ERROR)
    assert p.message == "receives no data from any Input"


# ---------------------------------------------------------------- regressions from review
def test_the_parameter_total_is_the_sum_of_the_node_counts_and_says_when_it_is_a_lower_bound():
    g = mlp_graph()
    whole = analyze(g)
    assert whole.params_unknown == [] and whole.params_text() == f"{whole.total_params:,}"
    assert whole.total_params == whole.compiled_params == sum(i.param_count for i in whole.nodes.values())
    add(g, "Linear", "stray")
    a = analyze(g)
    assert a.nodes["stray"].param_count is None  # no input, so no size
    assert a.params_unknown == ["stray"] and a.total_params == whole.total_params
    assert a.params_text() == f"at least {whole.total_params:,}"
    g2 = mlp_graph()
    x2 = add(g2, "Input", "x2", shape=[4])
    s = add(g2, "Linear", "stray", out_features=3)
    chain(g2, x2, s)
    a2 = analyze(g2)
    assert a2.nodes["stray"].param_count == 15
    assert a2.total_params == whole.total_params + 15  # what its card shows is in the total...
    assert a2.compiled_params == whole.total_params  # ...though the compiler leaves it out
    assert a2.params_text() == f"{whole.total_params + 15:,}"


def test_a_lone_linear_after_an_input_counts_without_an_output():
    g = Graph()
    chain(g, g.add_node("Input"), g.add_node("Linear"))  # the status bar said 0, the card 4,160
    a = analyze(g)
    assert a.nodes["linear_1"].param_count == 64 * 64 + 64
    assert (a.total_params, a.params_text(), a.compiled_params) == (4160, "4,160", 0)


def test_an_invalid_inputs_count_is_the_only_problem_reported():
    g = Graph()
    cat = add(g, "Concat", "cat")
    for i in range(1, 5):
        add(g, "Input", f"x{i}", shape=[2])
    g.set_param("cat", "inputs", 4)
    for i in range(1, 5):
        g.connect(f"x{i}", "out", "cat", f"in{i}")
    chain(g, cat, add(g, "Output", "out"))
    g.set_param("cat", "inputs", 9, check=False)
    assert codes(analyze(g)) == [("bad_param", "cat", None)]


def test_a_stray_wire_from_a_missing_output_port_only_warns():
    g = mlp_graph()
    stray = add(g, "ReLU", "stray")
    g.connect("image", "zz", "stray", "in", check=False)
    a = analyze(g)
    assert a.ok
    p = next(p for p in a.problems if p.code == "missing_port")
    assert (p.node_id, p.port) == ("stray", "in") and "image.zz" in p.message


def test_shape_problems_caused_by_a_param_name_it():
    g = Graph()
    chain(g, add(g, "Input", "x", shape=[3, 8, 8]), add(g, "Conv2d", "conv", out_channels=4, groups=2),
          add(g, "Output", "y"))
    p = only(analyze(g), "shape")
    assert (p.node_id, p.port, p.param) == ("conv", "in", "groups")


def test_absurdly_large_layers_warn():
    g = Graph()
    chain(g, add(g, "Input", "x", shape=[2**20]), add(g, "Linear", "fc", out_features=2**12), add(g, "Output", "y"))
    p = only(analyze(g), "huge")
    assert p.severity == WARNING and "4,294,971,392 parameters" in p.message
