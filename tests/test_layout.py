"""Layered auto-layout: left to right along the wires, no two nodes on one spot."""

from __future__ import annotations

from helpers import mlp_graph

from layerloom import load_graph
from layerloom.model.layout import COLUMN_WIDTH, apply_layout, layered_layout
from layerloom.files.resources import example_paths


def test_every_edge_points_right_and_nodes_never_overlap():
    for path in example_paths() + [None]:
        g = load_graph(path) if path else mlp_graph()
        pos = layered_layout(g)
        assert set(pos) == set(g.nodes)
        assert len(set(pos.values())) == len(pos), "two nodes share a position"
        for e in g.edges:
            assert pos[e.src][0] < pos[e.dst][0], f"{e} goes leftwards"


def test_sources_sit_next_to_their_first_consumer():
    g = mlp_graph()
    pos = layered_layout(g)
    assert pos["label"][0] == pos["loss"][0] - COLUMN_WIDTH


def test_cycles_do_not_break_layout():
    g = mlp_graph()
    g.connect("fc2", "out", "fc1", "in", check=False)
    pos = layered_layout(g)
    assert set(pos) == set(g.nodes)


def test_apply_layout_moves_nodes_through_the_graph_api():
    g = mlp_graph()
    moved = []
    g.events.node_moved.subscribe(lambda n, x, y: moved.append(n.id))
    apply_layout(g, layered_layout(g))
    assert sorted(moved) == sorted(g.nodes)
    assert g.node("fc2").position[0] > g.node("fc1").position[0]
