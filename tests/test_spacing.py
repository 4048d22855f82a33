"""Nothing overlaps (``layerloom.edits.spacing``), headless: after a drop, an insert into a wire, a quick add,
a paste, a group, an ungroup, a block opened with its nodes piled up, and a file without positions, no two
node cards intersect, on every example; the new nodes stay where the user put them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import mlp_graph

from layerloom import load_graph, loads_graph
from layerloom.edits import AddNode, apply_plan
from layerloom.edits.plan import MoveNode
from layerloom.edits.blocks import plan_group_nodes, plan_ungroup_instance
from layerloom.edits.paste import plan_paste, read_selection, selection_text
from layerloom.edits.spacing import (GAP, card_size, free_offset, intersects, node_rects, overlapping_pairs,
                                     plan_make_room, plan_tidy, push_apart, tidied)
from layerloom.model.layout import CARD_FOOTER, CARD_HEADER, CARD_ROW, CARD_WIDTH, card_height, place_unplaced

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "resources" / "examples").glob("*.llgraph.json"))


def example(path):
    graph = load_graph(path)
    assert overlapping_pairs(graph) == []   # the examples start tidy
    return graph


def dropped(graph, type_id: str, position, scope=None) -> str:
    """A node of ``type_id`` put at ``position`` and the room made for it, as the editor does."""
    node = graph.add_node(type_id, position=position)
    before = dict(node_rects(graph))
    plan = plan_make_room(graph, [node.id], scope)
    assert all(isinstance(e, MoveNode) and e.node_id != node.id for e in plan.edits)   # the new one stays
    apply_plan(plan, graph)
    assert node_rects(graph)[node.id] == before[node.id]
    return node.id


# ------------------------------------------------------------------------- the rule
def test_a_card_is_as_tall_as_its_longer_port_side():
    graph = mlp_graph()
    one_row, two_rows = CARD_HEADER + CARD_ROW + CARD_FOOTER, CARD_HEADER + 2 * CARD_ROW + CARD_FOOTER
    assert card_size(graph, "fc1") == (CARD_WIDTH, one_row) == (CARD_WIDTH, card_height(graph, "fc1"))
    assert card_size(graph, "image")[1] == card_size(graph, "logits")[1] == one_row   # no inputs / no outputs
    assert card_size(graph, "loss")[1] == two_rows                                     # pred and target


def test_a_card_dropped_on_a_row_pushes_the_ones_right_of_it_right_in_a_cascade_and_the_left_one_left():
    graph = mlp_graph()
    for k, nid in enumerate(["image", "fc1", "relu1", "fc2", "logits"]):
        graph.move_node(nid, 220.0 * k, 0.0)
    for k, nid in enumerate(["label", "loss"]):
        graph.move_node(nid, 220.0 * (k + 3), 400.0)
    new = dropped(graph, "Linear", (300.0, 10.0))   # on fc1 (its centre left of the new one) and relu1
    pos = {nid: graph.node(nid).position for nid in graph.nodes}
    assert pos["fc1"][0] < 300.0 - CARD_WIDTH and pos["fc1"][1] == 0.0          # left, same row
    assert pos["relu1"][0] >= 300.0 + CARD_WIDTH + GAP                            # right...
    assert pos["fc2"][0] > pos["relu1"][0] and pos["logits"][0] > pos["fc2"][0]  # ...and the chain after it
    assert pos["label"] == (660.0, 400.0) and pos["loss"] == (880.0, 400.0)      # far away: untouched
    assert overlapping_pairs(graph) == [] and new in graph.nodes


def test_nothing_moves_when_the_new_card_lands_in_free_space():
    graph = mlp_graph()
    place_unplaced(graph)
    node = graph.add_node("ReLU", position=(5000.0, 5000.0))
    assert plan_make_room(graph, [node.id]).edits == []


def test_new_nodes_first_clear_each_other_and_a_tangle_never_hangs():
    graph = mlp_graph()   # every node at the origin
    assert len(overlapping_pairs(graph)) == len(graph) * (len(graph) - 1) // 2
    apply_plan(plan_make_room(graph, list(graph.nodes)), graph)
    assert overlapping_pairs(graph) == []
    rects = {str(k): (0.0, 0.0, 10.0, 10.0) for k in range(40)}
    moved = push_apart(rects, ["0"], "x")
    rects.update(moved)
    assert not any(intersects(rects[a], rects[b]) for a in rects for b in rects if a < b)


def test_a_tidy_lays_out_unplaced_nodes_and_pulls_apart_touching_ones():
    graph = mlp_graph()
    plan = plan_tidy(graph, "Block")
    assert plan.text == "Tidy the inside of Block" and {e.scope for e in plan.edits} == {"Block"}
    for edit in plan.edits:
        graph.move_node(edit.node_id, *edit.position)
    assert overlapping_pairs(graph, GAP - 0.01) == [] and plan_tidy(graph).edits == []


def test_free_offset_goes_down_or_right_until_the_selection_is_clear():
    placed = [(0.0, 0.0, 190.0, 82.0)]
    assert free_offset({"a": (0.0, 0.0, 190.0, 82.0)}, placed, (40.0, 40.0)) in {(40.0, 120.0), (220.0, 40.0)}
    assert free_offset({"a": (0.0, 500.0, 190.0, 82.0)}, placed, (40.0, 40.0)) == (40.0, 40.0)


# ------------------------------------------------------------------------- every gesture on every example
@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name.split(".")[0])
def test_a_drop_or_quick_add_onto_any_node_of_an_example_leaves_no_overlap(path):
    for nid in list(example(path).nodes):
        graph = load_graph(path)
        dropped(graph, "Formula" if graph.catalog.get("Formula") else "ReLU", graph.node(nid).position)
        assert overlapping_pairs(graph) == [], nid


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name.split(".")[0])
def test_an_insert_into_any_wire_of_an_example_leaves_no_overlap(path):
    for edge in list(example(path).edges):
        graph = load_graph(path)
        (sx, sy), (dx, dy) = graph.node(edge.src).position, graph.node(edge.dst).position
        new = dropped(graph, "Dropout", ((sx + dx) / 2, (sy + dy) / 2))   # where the wire is
        graph.disconnect(edge)
        graph.connect(edge.src, edge.src_port, new, "in", check=False)
        graph.connect(new, "out", edge.dst, edge.dst_port, check=False)
        assert overlapping_pairs(graph) == [], edge


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name.split(".")[0])
def test_pasting_an_example_into_itself_twice_lands_clear_of_it(path):
    graph = example(path)
    part = read_selection(selection_text(graph, list(graph.nodes)), graph.catalog)
    for _ in range(2):
        plan = plan_paste(graph, None, part)
        assert plan.refusals == []
        apply_plan(plan, graph)
        assert overlapping_pairs(graph) == []


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name.split(".")[0])
def test_grouping_and_ungrouping_a_stretch_of_an_example_keeps_it_tidy_inside_and_out(path):
    graph = example(path)
    order, _ = graph.topological_order()
    middle = [nid for nid in order if graph.incoming(nid) and graph.outgoing(nid)][1:4]
    plan = plan_group_nodes(graph, None, middle, "Stretch")
    assert not plan.refused, plan.refusals
    apply_plan(plan, graph)
    instance = plan.added_ids[0]
    apply_plan(plan_make_room(graph, [instance]), graph)
    assert overlapping_pairs(graph) == []
    assert overlapping_pairs(graph.blocks["Stretch"].graph, GAP - 0.01) == []   # the inside: apart, not touching
    plan = plan_ungroup_instance(graph, None, instance)
    apply_plan(plan, graph)
    apply_plan(plan_make_room(graph, plan.added_ids), graph)
    assert overlapping_pairs(graph) == []


def test_an_ungrouped_inside_lands_around_where_its_instance_was():
    graph = example(EXAMPLES[0])
    order, _ = graph.topological_order()
    middle = [nid for nid in order if graph.incoming(nid) and graph.outgoing(nid)][1:3]
    plan = plan_group_nodes(graph, None, middle, "Pair")
    apply_plan(plan, graph)
    instance = plan.added_ids[0]
    graph.move_node(instance, 3000.0, 2000.0)
    plan = plan_ungroup_instance(graph, None, instance)
    xs = [e.ui["x"] for e in plan.edits if isinstance(e, AddNode)]
    assert xs and sum(xs) / len(xs) == pytest.approx(3000.0, abs=0.2)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name.split(".")[0])
def test_a_block_inside_piled_up_at_the_origin_is_laid_out_on_opening(path):
    graph = example(path)
    order, _ = graph.topological_order()
    middle = [nid for nid in order if graph.incoming(nid) and graph.outgoing(nid)][:3]
    apply_plan(plan_group_nodes(graph, None, middle, "Piled"), graph)
    inside = graph.blocks["Piled"].graph
    for node in inside:
        node.ui.pop("x", None), node.ui.pop("y", None)
    plan = plan_tidy(inside, "Piled")
    apply_plan(plan, graph)
    assert overlapping_pairs(inside) == [] and plan_tidy(inside, "Piled").edits == []


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name.split(".")[0])
def test_an_example_without_positions_opens_with_no_card_on_another(path):
    data = json.loads(path.read_text())
    for node in data["nodes"]:
        node.pop("ui", None)
    graph = loads_graph(json.dumps(data))
    assert place_unplaced(graph)
    apply_plan(plan_tidy(graph), graph)
    assert overlapping_pairs(graph) == []


def test_a_layout_tidied_leaves_no_card_on_another():
    graph = mlp_graph()
    positions = tidied(graph, {nid: (0.0, 0.0) for nid in graph.nodes})
    for nid, position in positions.items():
        graph.move_node(nid, *position)
    assert overlapping_pairs(graph, GAP - 0.01) == []
