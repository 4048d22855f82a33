"""The graph model: stable ids, mutations, refusals with reasons, and plain-Python change events."""

from __future__ import annotations

import pytest
from helpers import add, chain, mlp_graph

from layerloom import ConnectionRefused, Edge, Graph, GraphError, ParamError
from layerloom.core.events import Event


class Recorder:
    def __init__(self, graph: Graph):
        self.log = []
        ev = graph.events
        ev.node_added.subscribe(lambda n: self.log.append(("node_added", n.id)))
        ev.node_removed.subscribe(lambda n: self.log.append(("node_removed", n.id)))
        ev.edge_added.subscribe(lambda e: self.log.append(("edge_added", str(e))))
        ev.edge_removed.subscribe(lambda e: self.log.append(("edge_removed", str(e))))
        ev.param_changed.subscribe(lambda n, k, old, new: self.log.append(("param_changed", n.id, k, old, new)))
        ev.node_renamed.subscribe(lambda n, old, new: self.log.append(("node_renamed", n.id, old, new)))
        ev.node_moved.subscribe(lambda n, x, y: self.log.append(("node_moved", n.id, x, y)))
        ev.meta_changed.subscribe(lambda k, v: self.log.append(("meta_changed", k)))
        self.changes = 0

        def bump():
            self.changes += 1
        ev.changed.subscribe(bump)


def test_add_node_fills_defaults_and_generates_stable_unique_ids():
    g = Graph()
    a = g.add_node("Linear")
    b = g.add_node("Linear")
    assert a.id != b.id and a.id.startswith("linear_")
    assert a.params == {"out_features": 64, "bias": True, "init": "default"}
    assert a.name != b.name
    g.remove_node(a.id)
    c = g.add_node("Linear")
    assert c.id not in (a.id, b.id)  # one past the highest in use: never the id of a node still there


def test_the_first_node_of_a_type_is_1_and_ids_count_per_type():
    g = Graph()
    assert g.add_node("Input").id == "input_1"
    first = g.add_node("Linear")
    assert (first.id, first.name) == ("linear_1", "linear_1")  # not linear_2 after the Input
    assert [g.add_node(t).id for t in ("ReLU", "Linear", "ReLU")] == ["relu_1", "linear_2", "relu_2"]
    assert g.node("linear_2").name == "linear_2"  # the name follows the id


def test_new_ids_agree_with_the_edit_planners_rule():
    from layerloom.edits.plan import fresh_id as planned_id
    from layerloom.model.graph import fresh_id

    g = mlp_graph()
    for type_id in ("Linear", "ReLU", "Conv2d", "Block:ResBlock", "3d thing"):
        assert fresh_id(type_id, g.nodes) == planned_id(type_id, g.nodes)
        assert g.new_id(type_id) == planned_id(type_id, g.nodes)


def test_asking_twice_before_adding_gives_two_ids_and_a_removed_last_id_comes_back():
    g = Graph()
    one, two = g.new_id("Linear"), g.new_id("Linear")
    assert (one, two) == ("linear_1", "linear_2")  # ungrouping asks for several before adding any
    g.add_node("Linear", node_id=two)
    assert g.new_id("Linear") == "linear_3"
    g.remove_node("linear_2")
    assert g.add_node("Linear").id == "linear_1"  # nothing of the type left: counting starts again
    loaded = Graph()
    loaded.restore([g.node("linear_1")], [])
    assert loaded.new_id("Linear") == "linear_2"


def test_events_for_every_mutation():
    g = Graph()
    rec = Recorder(g)
    x = g.add_node("Input", "x", node_id="x")
    fc = g.add_node("Linear", "fc", node_id="fc")
    edge = g.connect("x", "out", "fc", "in")
    g.set_param("fc", "out_features", 3)
    g.rename_node("fc", "dense")
    g.move_node("fc", 10, 20)
    g.set_meta("name", "net")
    g.disconnect(edge)
    g.remove_node("x")
    assert rec.log == [
        ("node_added", "x"), ("node_added", "fc"), ("edge_added", "x.out -> fc.in"),
        ("param_changed", "fc", "out_features", 64, 3), ("node_renamed", "fc", "fc", "dense"),
        ("node_moved", "fc", 10.0, 20.0), ("meta_changed", "name"), ("edge_removed", "x.out -> fc.in"),
        ("node_removed", "x"),
    ]
    assert rec.changes == len(rec.log)
    assert fc.ui == {"x": 10.0, "y": 20.0} and fc.position == (10.0, 20.0)
    assert x.id not in g


def test_removing_a_node_first_removes_and_announces_its_edges():
    g = mlp_graph()
    rec = Recorder(g)
    g.remove_node("fc2")
    kinds = [entry[0] for entry in rec.log]
    assert kinds[-1] == "node_removed"
    assert kinds.count("edge_removed") == 3  # relu1->fc2, fc2->logits, fc2->loss.pred
    assert all(e.src != "fc2" and e.dst != "fc2" for e in g.edges)


def test_no_event_when_nothing_changes():
    g = Graph()
    n = g.add_node("Linear", "fc", {"out_features": 5})
    g.move_node(n.id, 1, 2)
    rec = Recorder(g)
    g.set_param(n.id, "out_features", 5)
    g.move_node(n.id, 1, 2)
    g.rename_node(n.id, "fc")
    assert rec.log == [] and rec.changes == 0


@pytest.mark.parametrize("src,sport,dst,dport,reason", [
    ("fc1", "out", "fc1", "in", "cannot feed itself"),
    ("fc2", "out", "fc1", "in", "cycle"),
    ("label", "out", "fc2", "in", "only feed the target input of a loss"),
    ("loss", "loss", "logits", "in", "loss value cannot feed"),
    ("fc1", "nope", "relu1", "in", "has no output 'nope'"),
    ("fc1", "out", "relu1", "bogus", "has no input 'bogus'"),
    ("image", "out", "fc1", "in", "already connected"),
])
def test_check_connection_explains_refusals(src, sport, dst, dport, reason):
    g = mlp_graph()
    assert reason in g.check_connection(src, sport, dst, dport)
    with pytest.raises(ConnectionRefused, match=reason):
        g.connect(src, sport, dst, dport)


def test_occupied_input_is_refused_unless_replaced():
    g = mlp_graph()
    other = add(g, "Input", "other", shape=[64])
    assert g.check_connection("other", "out", "fc1", "in") is None
    with pytest.raises(ConnectionRefused, match="already connected"):
        g.connect("other", "out", "fc1", "in")
    rec = Recorder(g)
    g.connect(other.id, "out", "fc1", "in", replace=True)
    assert [e for e in g.edges if e.dst == "fc1"] == [Edge("other", "out", "fc1", "in")]
    assert [entry[0] for entry in rec.log] == ["edge_removed", "edge_added"]


def test_tensor_may_feed_a_loss_target_for_autoencoders():
    g = Graph()
    x = add(g, "Input", "x", shape=[4])
    fc = add(g, "Linear", "fc", out_features=4)
    loss = add(g, "MSELoss", "loss")
    chain(g, x, fc)
    g.connect("fc", "out", "loss", "pred")
    assert g.check_connection("x", "out", "loss", "target") is None


def test_set_param_refuses_invalid_values_and_keeps_the_old_one():
    g = Graph()
    n = g.add_node("Linear", "fc", {"out_features": 8})
    with pytest.raises(ParamError, match="at least 1"):
        g.set_param(n.id, "out_features", 0)
    with pytest.raises(ParamError, match="whole number"):
        g.set_param(n.id, "out_features", "ten")
    with pytest.raises(ParamError, match="no parameter"):
        g.set_param(n.id, "units", 3)
    assert n.params["out_features"] == 8


def test_rename_refuses_duplicates_and_empty_names():
    g = mlp_graph()
    with pytest.raises(GraphError, match="already called"):
        g.rename_node("fc1", "fc2")
    with pytest.raises(GraphError, match="empty"):
        g.rename_node("fc1", "  ")
    g.rename_node("fc1", " hidden ")
    assert g.node("fc1").name == "hidden"


def test_add_node_refuses_unknown_types_and_bad_ids_unless_loading():
    g = Graph()
    with pytest.raises(GraphError, match="unknown node type"):
        g.add_node("Frobnicate")
    with pytest.raises(GraphError, match="invalid node id"):
        g.add_node("ReLU", node_id="has space")
    g.add_node("ReLU", node_id="r")
    with pytest.raises(GraphError, match="already exists"):
        g.add_node("ReLU", node_id="r")
    kept = g.add_node("Frobnicate", "mystery", {"k": 1}, check=False)
    assert kept.type_id == "Frobnicate" and kept.params == {"k": 1}


def test_aliases_resolve_to_the_current_type():
    g = Graph()
    assert g.add_node("Dense").type_id == "Linear"
    assert g.add_node("Conv2D").type_id == "Conv2d"


def test_merge_ports_follow_the_inputs_param():
    g = Graph()
    n = g.add_node("Concat")
    assert [p.name for p in g.input_ports(n.id)] == ["in1", "in2"]
    g.set_param(n.id, "inputs", 4)
    assert [p.name for p in g.input_ports(n.id)] == ["in1", "in2", "in3", "in4"]


def test_copy_is_deep_and_independent():
    g = mlp_graph()
    g.training = {"epochs": 3}
    clone = g.copy()
    clone.set_param("fc1", "out_features", 7)
    clone.training["epochs"] = 9
    clone.remove_node("relu1")
    assert g.node("fc1").params["out_features"] == 32
    assert g.training == {"epochs": 3}
    assert "relu1" in g and len(g.edges) == 6
    assert len(clone.events.changed) == 0  # no subscribers carried over


def test_topological_order_and_cycles():
    g = mlp_graph()
    order, cyclic = g.topological_order()
    assert not cyclic
    assert order.index("image") < order.index("fc1") < order.index("relu1") < order.index("fc2") < order.index("loss")
    g.connect("fc2", "out", "fc1", "in", check=False)
    order, cyclic = g.topological_order()
    assert {"fc1", "relu1", "fc2"} <= cyclic


def test_event_keeps_other_listeners_running_when_one_fails():
    event = Event("x")
    seen = []

    def broken(value):
        raise RuntimeError("listener bug")

    event.subscribe(broken)
    event.subscribe(seen.append)
    with pytest.raises(RuntimeError, match="listener bug"):
        event.emit(1)
    assert seen == [1]
    event.unsubscribe(broken)
    event.emit(2)
    assert seen == [1, 2]


def test_node_position_survives_nonsense_ui_values():
    g = Graph()
    n = g.add_node("ReLU", ui={"x": "left", "y": None})
    assert n.position == (0.0, 0.0)


@pytest.mark.parametrize("name,message", [("", "empty"), ("   ", "empty"), ("x" * 65, "at most 64"),
                                          (123, "empty"), ("fc1", "already called")])
def test_add_node_refuses_names_a_file_could_not_hold(name, message):
    g = mlp_graph()
    with pytest.raises(GraphError, match=message):
        g.add_node("ReLU", name)


def test_add_node_strips_names_like_the_loader_does():
    g = Graph()
    assert g.add_node("ReLU", " act ").name == "act"


def test_a_failing_listener_never_leaves_an_edit_half_done():
    g = mlp_graph()
    seen = []

    def broken(edge):
        seen.append(edge)
        raise RuntimeError("listener bug")

    g.events.edge_removed.subscribe(broken)
    with pytest.raises(RuntimeError, match="listener bug"):
        g.remove_node("fc2")
    assert "fc2" not in g and all("fc2" not in (e.src, e.dst) for e in g.edges)
    assert len(seen) == 3  # every edge_removed still went out
    add(g, "Input", "other", shape=[64])
    with pytest.raises(RuntimeError):
        g.connect("other", "out", "fc1", "in", replace=True)
    assert g.edges_into("fc1", "in") == [Edge("other", "out", "fc1", "in")]


def test_ids_with_a_trailing_newline_are_invalid():
    from layerloom.model.graph import valid_id

    assert valid_id("fc1") and not valid_id("fc1\n") and not valid_id("1fc")


def test_positions_and_ui_values_must_be_storable():
    g = mlp_graph()
    with pytest.raises(GraphError, match="finite"):
        g.move_node("fc1", float("nan"), 0)
    with pytest.raises(GraphError, match="finite"):
        g.add_node("ReLU", position=(float("inf"), 0))
    with pytest.raises(GraphError, match="plain JSON"):
        g.set_ui("fc1", "colour", object())
    with pytest.raises(GraphError, match="plain JSON"):
        g.set_meta("training", {"lr": float("nan")})
    assert g.node("fc1").ui == {}


def test_revision_counts_announced_edits_and_the_blocks_table_forgets_what_it_derived():
    g = mlp_graph()
    table = g.blocks
    start = g.revision
    table.derived["probe"] = 1
    g.move_node("fc1", 10, 20)  # a move changes no meaning: what was derived stays
    assert g.revision == start + 1 and table.derived == {"probe": 1}
    g.set_param("fc1", "out_features", 16)
    assert g.revision == start + 2 and table.derived == {}
    table.derived["probe"] = 1
    inside = Graph(name="inside")
    inside.blocks = table  # a block's inside shares its owner's table: its edits count there too
    inside.add_node("ReLU", "act")
    assert table.derived == {} and table.revision > 0
    g.blocks = {}  # a plain dict becomes a table
    assert type(g.blocks).__name__ == "BlockTable" and g.blocks is not table
    blocks_before = g.blocks.revision
    g.blocks["x"] = None
    assert g.blocks.revision == blocks_before + 1
