"""The editing rules as pure planners (``layerloom.edits``), headless: each plan says what an action does
(edit records in order) or why not (the message a user reads), never changes the graph while planning,
and carried out (``apply_plan``) gives the edited graph."""

from __future__ import annotations

import json

import pytest
from helpers import add, chain, mlp_graph, residual_def

from layerloom import Edge, Graph, analyze, dumps_graph
from layerloom.edits import (AddEdge, AddNode, Connect, Disconnect, InstallBlock, Plan, Refusal, Rename, SetParam,
                             UpdateBlock, apply_plan, graph_at, scope_of)
from layerloom.edits.blocks import (contains_itself, plan_add_node, plan_delete_block, plan_group_nodes,
                                    plan_import_blocks, plan_rename, plan_ungroup_instance)
from layerloom.edits.params import (bindable, bound_to, complaint, fresh_param_name, is_reference, plan_block_default,
                                    plan_block_doc, plan_make_block_param, plan_remove_block_param, plan_set_param,
                                    stored_value, unlink_value)
from layerloom.edits.paste import OFFSET, plan_paste, read_selection, selection_graph, selection_text
from layerloom.edits.plan import fresh_id
from layerloom.edits.spacing import card_size, intersects, node_rects
from layerloom.core.errors import GraphError, ParamError


def outer_def() -> dict:
    """A block with a Residual instance inside: x -> inner (Residual) -> y."""
    return {
        "inputs": ["x"], "outputs": ["y"],
        "nodes": [
            {"id": "x", "type": "Input", "name": "x", "params": {"shape": [8, 8, 8]}},
            {"id": "inner", "type": "Block:Residual", "name": "inner", "params": {"channels": 8}},
            {"id": "y", "type": "Output", "name": "y", "params": {}},
        ],
        "edges": [{"from": ["x", "out"], "to": ["inner", "x"]}, {"from": ["inner", "y"], "to": ["y", "in"]}],
    }


def model(with_outer: bool = False) -> Graph:
    """image -> stem -> res1 -> res2 -> features, res1 and res2 instances of Residual (8 channels)."""
    g = Graph(name="rescnn")
    g.define_block("Residual", residual_def())
    if with_outer:
        g.define_block("Outer", outer_def())
    x = add(g, "Input", "image", shape=[3, 8, 8])
    stem = add(g, "Conv2d", "stem", out_channels=8, kernel_size=3, padding=1)
    res1 = g.add_node("Block:Residual", "res1", {"channels": 8}, node_id="res1")
    res2 = g.add_node("Block:Residual", "res2", {"channels": 8}, node_id="res2")
    chain(g, x, stem, res1, res2, add(g, "Output", "features"))
    return g


def unchanged(root: Graph, planner, *args):
    """The plan ``planner`` makes, checking that planning left the graph as it was."""
    before = dumps_graph(root)
    plan = planner(root, *args)
    assert dumps_graph(root) == before
    return plan


# ------------------------------------------------------------------------- plans and ids
def test_fresh_ids_follow_the_graphs_own_pattern_past_the_highest_in_use():
    assert fresh_id("Conv2d", []) == "conv2d_1"
    assert fresh_id("Conv2d", ["conv2d_1", "conv2d_7", "relu_9", "conv2d_x"]) == "conv2d_8"
    assert fresh_id("Block:ResBlock", {"block_resblock_1"}) == "block_resblock_2"
    assert fresh_id("3d thing", []) == "n_3d_thing_1"


def test_a_refusal_reads_as_one_sentence_and_a_plan_without_edits_is_refused_only_with_a_reason():
    assert Refusal("Cannot group", "select one or more nodes").message == "Cannot group: select one or more nodes"
    assert str(Refusal("", "two block params have the same name")) == "two block params have the same name"
    assert not Plan().refused and Plan().refuse("x", "y").refused
    assert not Plan(edits=[Rename("a", "b")]).refuse("x", "y").refused   # done, with something left out


def test_scopes_name_the_model_and_block_insides():
    root = model()
    inside = root.blocks["Residual"].graph
    assert graph_at(root, None) is root and graph_at(root, "Residual") is inside
    assert scope_of(root) is None and scope_of(inside) == "Residual"
    with pytest.raises(GraphError, match="no block called 'Nope'"):
        graph_at(root, "Nope")


# ------------------------------------------------------------------------- params
def test_setting_a_param_plans_the_stored_value_or_refuses_with_the_specs_message():
    root = mlp_graph()
    plan = unchanged(root, plan_set_param, None, "fc1", "out_features", 12)
    assert plan.text is None and plan.edits == [SetParam("fc1", "out_features", 12)]
    refused = unchanged(root, plan_set_param, None, "fc1", "out_features", -3)
    assert refused.refused and refused.edits == []
    with pytest.raises(ParamError) as raised:
        stored_value(root, root.node("fc1"), "out_features", -3)
    assert refused.refusals[0].message == str(raised.value) and refused.refusals[0].message.startswith("out_features: ")
    assert unchanged(root, plan_set_param, None, "fc1", "nope", 1).refusals[0].message == \
        "nope: Linear has no parameter 'nope'"
    apply_plan(plan, root)
    assert root.node("fc1").params["out_features"] == 12


def test_inside_a_block_a_reference_to_one_of_its_params_is_a_value_and_outside_it_is_not():
    root = model()
    apply_plan(plan_set_param(root, "Residual", "conv2", "out_channels", 16), root)
    plan = unchanged(root, plan_set_param, "Residual", "conv2", "out_channels", "$channels")
    assert plan.edits == [SetParam("conv2", "out_channels", "$channels", "Residual")]
    missing = unchanged(root, plan_set_param, "Residual", "conv2", "out_channels", "$width")
    assert missing.refusals[0].message == "out_channels: block Residual has no param 'width'"
    outside = unchanged(root, plan_set_param, None, "stem", "out_channels", "$channels")
    assert outside.refused and outside.refusals[0].what == "out_channels"   # text, which the spec refuses


def test_references_and_complaints():
    root = model()
    block = root.blocks["Residual"]
    kernel = root.catalog.get("Conv2d").param("out_channels")
    assert is_reference("$channels") and not is_reference("channels") and not is_reference(3)
    assert bound_to("$channels") == "channels" and bound_to(16) is None
    assert complaint(kernel, "$channels", block) is None          # the instances set it
    assert complaint(kernel, "$channels") is not None and complaint(kernel, 4) is None
    assert unlink_value(block, kernel, "$channels") == 16          # the block param's default
    assert unlink_value(block, kernel, "$gone") == kernel.to_json(kernel.default)


def test_a_param_may_use_the_block_params_of_its_kind_but_not_the_one_it_uses_already():
    root = model()
    block = root.blocks["Residual"]
    conv = root.catalog.get("Conv2d")
    assert [r["name"] for r in bindable(block, conv.param("out_channels"))] == ["channels"]
    assert bindable(block, conv.param("out_channels"), "$channels") == []
    assert bindable(block, conv.param("bias")) == []               # no bool block param
    assert fresh_param_name(block, "channels") == "channels2"
    assert fresh_param_name(block, "repeat") == "repeat2"           # every instance has a repeat of its own


def test_making_a_block_param_adds_the_record_and_binds_the_node_in_one_step():
    root = model()
    plan = unchanged(root, plan_make_block_param, "Residual", "conv1", "bias")
    assert plan.text == "Make conv1.bias a param of block Residual"
    update, bind = plan.edits
    assert isinstance(update, UpdateBlock) and update.name == "Residual"
    assert update.params[0] == root.blocks["Residual"].params[0]
    record = update.params[-1]
    assert (record["name"], record["kind"], record["default"]) == ("bias", "bool", True)   # conv1's value
    assert bind == SetParam("conv1", "bias", "$bias", "Residual")
    apply_plan(plan, root)
    assert [r["name"] for r in root.blocks["Residual"].params] == ["channels", "bias"]
    assert root.blocks["Residual"].graph.node("conv1").params["bias"] == "$bias"
    assert analyze(root).ok
    again = unchanged(root, plan_make_block_param, "Residual", "conv2", "bias")
    assert again.edits[-1] == SetParam("conv2", "bias", "$bias2", "Residual")   # a fresh name

    kernel = unchanged(root, plan_make_block_param, "Residual", "conv1", "kernel_size")
    assert kernel.refused and kernel.refusals[0].message == (
        "Cannot make conv1.kernel_size a block param: 'kernel_size' cannot become a block param (only int, float, "
        "bool and text can)")
    assert unchanged(root, plan_make_block_param, None, "stem", "bias").refusals[0].why == \
        "only a node inside a block can use a block param"


def test_a_block_params_default_and_doc_change_in_place_or_not_at_all():
    root = model()
    plan = unchanged(root, plan_block_default, "Residual", 0, 32)
    assert plan.text is None and len(plan.edits) == 1
    (update,) = plan.edits
    assert update.text == "Set default of channels" and update.params[0]["default"] == 32
    assert unchanged(root, plan_block_default, "Residual", 0, 16) == Plan()           # the value it holds
    low = unchanged(root, plan_block_default, "Residual", 0, 0)
    assert low.refused and low.refusals[0].message.startswith("channels: ")         # below its minimum of 1
    assert unchanged(root, plan_block_doc, "Residual", residual_def()["doc"]) == Plan()  # the doc it has
    doc = unchanged(root, plan_block_doc, "Residual", "Two convolutions and a skip")
    assert doc.edits == [UpdateBlock("Residual", doc="Two convolutions and a skip", text="Change block doc")]
    apply_plan(plan, root)
    apply_plan(doc, root)
    assert root.blocks["Residual"].params[0]["default"] == 32 and root.blocks["Residual"].doc.startswith("Two")


def test_a_block_param_in_use_is_not_removed_and_an_unused_one_is():
    root = model()
    used = unchanged(root, plan_remove_block_param, "Residual", 0)
    assert used.refused and used.refusals[0].message == (
        "Cannot remove block param 'channels': conv1.out_channels, conv2.out_channels use(s) it; unlink them first")
    for node_id in ("conv1", "conv2"):
        apply_plan(plan_set_param(root, "Residual", node_id, "out_channels", 16), root)
    plan = unchanged(root, plan_remove_block_param, "Residual", 0)
    assert plan.edits == [UpdateBlock("Residual", params=[], text="Remove param channels")]
    apply_plan(plan, root)
    assert root.blocks["Residual"].params == []


# ------------------------------------------------------------------------- adding and containing
def test_a_block_cannot_contain_itself_directly_or_through_another_block():
    root = model(with_outer=True)
    assert contains_itself(root.blocks, "Residual", "Block:Residual")
    assert contains_itself(root.blocks, "Residual", "Block:Outer")        # Outer holds a Residual
    assert not contains_itself(root.blocks, "Outer", "Block:Residual")
    assert not contains_itself(root.blocks, None, "Block:Residual")       # the model may hold any
    assert not contains_itself(root.blocks, "Residual", "Conv2d")


def test_adding_a_node_plans_a_fresh_id_or_refuses():
    root = model(with_outer=True)
    plan = unchanged(root, plan_add_node, None, "ReLU", (10.0, 20.0))
    assert plan.edits == [AddNode("relu_1", "ReLU", position=(10.0, 20.0))]
    inside = unchanged(root, plan_add_node, "Residual", "ReLU", (0.0, 0.0))
    assert inside.edits[0].node_id == "relu_1" and inside.edits[0].scope == "Residual"
    loop = unchanged(root, plan_add_node, "Residual", "Block:Outer", (0.0, 0.0))
    assert loop.refusals[0].message == "Cannot add Block:Outer inside block Residual: a block cannot contain itself"
    unknown = unchanged(root, plan_add_node, None, "Nope", (0.0, 0.0))
    assert unknown.refusals[0].message == "Cannot add Nope: unknown node type 'Nope'"
    apply_plan(plan, root)
    added = root.node("relu_1")
    assert added.name == "relu_1" and added.position == (10.0, 20.0)


# ------------------------------------------------------------------------- renames
def test_a_rename_is_one_edit_nothing_or_a_refusal():
    root = model()
    assert unchanged(root, plan_rename, None, "stem", " stem ") == Plan()
    assert unchanged(root, plan_rename, None, "gone", "x") == Plan()
    taken = unchanged(root, plan_rename, None, "stem", "res1")
    assert taken.refusals[0].message == "Cannot rename 'stem': another node is already called 'res1'"
    assert unchanged(root, plan_rename, None, "stem", "   ").refusals[0].why == "a node name cannot be empty"
    plan = unchanged(root, plan_rename, None, "stem", "  trunk ")
    assert plan.text is None and plan.edits == [Rename("stem", "trunk")]
    inner = unchanged(root, plan_rename, "Residual", "conv1", "first")   # not a port: no wires move
    assert inner.edits == [Rename("conv1", "first", "Residual")]


def test_renaming_a_blocks_input_renames_the_port_and_moves_every_instances_wires():
    root = model(with_outer=True)
    plan = unchanged(root, plan_rename, "Residual", "x", "features")
    assert plan.text == "Rename port x of Residual"
    assert plan.edits[:2] == [Rename("x", "features", "Residual"), UpdateBlock("Residual", input_order=("features",))]
    moves = plan.edits[2:]
    old = [Edge("stem", "out", "res1", "x"), Edge("res1", "y", "res2", "x"), Edge("x", "out", "inner", "x")]
    assert [(type(m), m.edge, m.scope) for m in moves[0::2]] == [(Disconnect, e, s) for e, s in
                                                                 zip(old, (None, None, "Outer"))]
    assert [(m.edge.dst_port, m.scope) for m in moves[1::2]] == [("features", None), ("features", None),
                                                                 ("features", "Outer")]
    assert all(isinstance(m, AddEdge) for m in moves[1::2])
    order = [e for e in root.edges]
    apply_plan(plan, root)
    assert root.blocks["Residual"].inputs == ("features",)
    assert [e for e in root.edges] == [Edge(e.src, e.src_port, e.dst, "features") if e in old else e for e in order]
    assert root.blocks["Outer"].graph.edges_into("inner", "features")
    assert analyze(root).ok, analyze(root).problems


def test_renaming_a_blocks_output_moves_the_wires_leaving_its_instances():
    root = model()
    plan = unchanged(root, plan_rename, "Residual", "y", "z")
    assert plan.edits[1] == UpdateBlock("Residual", output_order=("z",))
    apply_plan(plan, root)
    assert [e.src_port for e in root.edges if e.src in ("res1", "res2")] == ["z", "z"]
    assert analyze(root).ok


# ------------------------------------------------------------------------- group / ungroup
def test_group_and_ungroup_are_plans_that_round_trip_to_the_same_bytes():
    root = mlp_graph()
    original = dumps_graph(root)
    nope = unchanged(root, plan_group_nodes, None, ["image"], "Front")
    assert nope.refused and nope.refusals[0].message.startswith("Cannot group: ")
    plan = unchanged(root, plan_group_nodes, None, ["fc1", "relu1"], "Hidden")
    assert plan.text == "Group 2 node(s) into Hidden" and isinstance(plan.edits[0], InstallBlock)
    apply_plan(plan, root)
    (instance,) = plan.added_ids
    assert root.node(instance).type_id == "Block:Hidden" and "Hidden" in root.blocks
    back = unchanged(root, plan_ungroup_instance, None, instance)
    assert back.edits[-1] == InstallBlock("Hidden", None)   # its last instance: the block goes too
    apply_plan(back, root)
    assert dumps_graph(root) == original
    assert unchanged(root, plan_ungroup_instance, None, "fc1").refusals[0].message.startswith("Cannot ungroup: ")


# ------------------------------------------------------------------------- copy and paste
def test_a_copy_carries_the_chosen_nodes_their_wires_and_the_blocks_they_use():
    root = model(with_outer=True)
    root.add_node("Block:Outer", "outer1", {}, node_id="outer1")
    part = selection_graph(root, ["res1", "res2", "outer1"])
    assert [n.id for n in part] == ["res1", "res2", "outer1"]
    assert part.edges == [Edge("res1", "y", "res2", "x")]
    assert sorted(part.blocks) == ["Outer", "Residual"]             # Residual for itself and inside Outer
    assert read_selection(selection_text(root, ["stem"]), root.catalog) is not None
    assert read_selection("not a graph", root.catalog) is None


def test_a_paste_adds_fresh_ids_and_names_shifted_and_wired_as_copied():
    root = mlp_graph()
    part = read_selection(selection_text(root, ["fc1", "relu1", "fc2"]), root.catalog)
    plan = unchanged(root, plan_paste, None, part)
    assert plan.text == "Paste 3 node(s)" and plan.refusals == []
    adds = [e for e in plan.edits if isinstance(e, AddNode)]
    assert [(a.type_id, a.name) for a in adds] == [("Linear", "fc3"), ("ReLU", "relu2"), ("Linear", "fc4")]
    assert len(set(plan.added_ids) | set(root.nodes)) == len(root) + 3          # no id clashes
    assert "x" not in adds[0].ui
    placed = node_rects(root).values()   # the copy had no positions: laid out, and clear of the nodes there
    assert not any(intersects((*a.position, *card_size(root, "fc1")), p) for a in adds for p in placed)
    wires = [e.edge for e in plan.edits if isinstance(e, Connect)]
    first, relu, second = plan.added_ids
    assert wires == [Edge(first, "out", relu, "in"), Edge(relu, "out", second, "in")]
    apply_plan(plan, root)
    assert len(root) == 10 and root.node(second).params == root.node("fc2").params


def test_a_paste_leaves_out_what_it_cannot_add_with_the_reason_and_its_wires():
    root = mlp_graph()
    data = json.loads(selection_text(root, ["fc1", "relu1", "fc2"]))
    for node in data["nodes"]:
        if node["id"] == "relu1":
            node["type"] = "Sparkle"
        if node["id"] == "fc2":
            node["params"]["out_features"] = -1
    part = read_selection(json.dumps(data), root.catalog)
    plan = unchanged(root, plan_paste, None, part)
    assert [r.message for r in plan.refusals][0] == \
        "Sparkle “relu1”: unknown node type 'Sparkle' (a plugin that is not loaded?)"
    assert plan.refusals[1].message.startswith("Linear “fc2”: out_features: ")
    assert [type(e) for e in plan.edits] == [AddNode]                     # fc1 alone, no wires
    apply_plan(plan, root)
    assert len(root) == 8


def test_a_pasted_cycle_keeps_the_wires_that_do_not_close_it():
    root = Graph(name="scratch")
    part = Graph(name="clipboard")
    add(part, "ReLU", "a"), add(part, "ReLU", "b")
    part.connect("a", "out", "b", "in")
    text = json.loads(dumps_graph(part))
    text["edges"].append({"from": ["b", "out"], "to": ["a", "in"]})      # written by hand: a loop
    plan = unchanged(root, plan_paste, None, read_selection(json.dumps(text), root.catalog))
    assert plan.added_ids == ["relu_1", "relu_2"]
    assert [e.edge for e in plan.edits if isinstance(e, Connect)] == [Edge("relu_1", "out", "relu_2", "in")]


def test_pasted_blocks_come_along_renamed_on_a_clash_and_reused_when_the_same():
    source = model()
    text = selection_text(source, ["res1"])
    same = model()
    plan = unchanged(same, plan_paste, None, read_selection(text, same.catalog))
    assert not any(isinstance(e, InstallBlock) for e in plan.edits)        # the model has this very block
    other = Graph(name="other")
    other.define_block("Residual", {"inputs": ["x"], "outputs": ["y"], "nodes": [
        {"id": "x", "type": "Input", "name": "x", "params": {"shape": [4]}},
        {"id": "y", "type": "Output", "name": "y", "params": {}}],
        "edges": [{"from": ["x", "out"], "to": ["y", "in"]}]})
    plan = unchanged(other, plan_paste, None, read_selection(text, other.catalog))
    install, node = plan.edits
    assert isinstance(install, InstallBlock) and install.name == "Residual_2"
    assert node.type_id == "Block:Residual_2" and node.params["channels"] == 8
    apply_plan(plan, other)
    assert sorted(other.blocks) == ["Residual", "Residual_2"] and [n.type_id for n in other] == ["Block:Residual_2"]


def test_a_paste_inside_a_block_leaves_out_instances_that_would_contain_it():
    root = model(with_outer=True)
    root.add_node("Block:Outer", "outer1", {}, node_id="outer1")
    text = selection_text(root, ["res1", "outer1", "stem"])
    plan = unchanged(root, plan_paste, "Residual", read_selection(text, root.catalog))
    assert [r.message for r in plan.refusals] == ["Block:Residual “res1”: a block cannot contain itself",
                                                  "Block:Outer “outer1”: a block cannot contain itself"]
    (stem,) = [e for e in plan.edits if isinstance(e, AddNode)]
    assert (stem.type_id, stem.scope) == ("Conv2d", "Residual")
    apply_plan(plan, root)
    assert stem.node_id in root.blocks["Residual"].graph


# ------------------------------------------------------------------------- the model's blocks
def test_a_library_import_adds_only_new_blocks_renaming_on_a_clash():
    source = model(with_outer=True)
    library = {name: block.copy() for name, block in source.blocks.items()}
    assert unchanged(model(with_outer=True), plan_import_blocks, library).edits == []   # all there already
    other = Graph(name="other")
    other.define_block("Residual", {"inputs": ["x"], "outputs": ["y"], "nodes": [
        {"id": "x", "type": "Input", "name": "x", "params": {"shape": [4]}},
        {"id": "y", "type": "Output", "name": "y", "params": {}}],
        "edges": [{"from": ["x", "out"], "to": ["y", "in"]}]})
    plan = unchanged(other, plan_import_blocks, library)
    assert plan.text == "Import 2 block(s)" and [e.name for e in plan.edits] == ["Residual_2", "Outer"]
    apply_plan(plan, other)
    assert other.blocks["Outer"].graph.node("inner").type_id == "Block:Residual_2"   # follows the new name


def test_a_block_in_use_is_not_deleted_and_its_users_are_named():
    root = model(with_outer=True)
    used = unchanged(root, plan_delete_block, "Residual")
    assert used.refusals[0].message == "Cannot delete: block 'Residual' is still used by res1, res2, block Outer"
    assert unchanged(root, plan_delete_block, "Nope").refusals[0].message == "Cannot delete: no block called 'Nope'"
    plan = unchanged(root, plan_delete_block, "Outer")
    assert plan.edits == [InstallBlock("Outer", None)]
    apply_plan(plan, root)
    assert list(root.blocks) == ["Residual"]
