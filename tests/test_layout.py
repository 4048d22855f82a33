"""Layered auto-layout: along the wires, left to right in bands that wrap, no two cards overlapping, and
every example fits a typical canvas at a readable zoom."""

from __future__ import annotations

from helpers import add, chain, mlp_graph

from layerloom import Graph, load_graph
from layerloom.model.layout import CANVAS, CARD_WIDTH, COLUMN_WIDTH, apply_layout, card_height, fit_scale, \
    layered_layout, layout_extent
from layerloom.files.resources import example_paths

# The editor's readable floor (layerloom.nodeeditor.canvas.view.READABLE_ZOOM; a GUI test keeps them equal):
# port dots of 11 px drawn at >= 8 px.
READABLE = 8 / 11


def _graphs():
    return [load_graph(path) for path in example_paths()] + [mlp_graph()]


def _chain(n: int) -> Graph:
    g = Graph(name="chain")
    chain(g, add(g, "Input", "x", shape=[8]), *(add(g, "Linear", f"fc{i}", out_features=8) for i in range(n)))
    return g




def test_every_edge_points_right_or_to_a_later_band_and_cards_never_overlap():
    for g in _graphs():
        pos = layered_layout(g)
        assert set(pos) == set(g.nodes)
        rects = {nid: (x, y, CARD_WIDTH, card_height(g, nid)) for nid, (x, y) in pos.items()}
        ids = sorted(rects)
        for i, a in enumerate(ids):
            for b in ids[i + 1:]:
                ra, rb = rects[a], rects[b]
                assert not (ra[0] < rb[0] + rb[2] and rb[0] < ra[0] + ra[2] and ra[1] < rb[1] + rb[3]
                            and rb[1] < ra[1] + ra[3]), f"{a} and {b} overlap"
        for e in g.edges:
            (sx, sy), (dx, dy) = pos[e.src], pos[e.dst]
            src_bottom = sy + card_height(g, e.src)
            assert sx < dx or dy >= src_bottom, f"{e} goes leftwards within its band"


def test_every_example_fits_a_typical_canvas_at_a_readable_zoom():
    for g in _graphs():
        scale = fit_scale(layout_extent(g, layered_layout(g)))
        assert scale >= READABLE, f"{g.name}: Zoom to Fit would be {scale:.2f}"


def test_a_long_chain_wraps_into_left_to_right_bands():
    g = _chain(30)
    pos = layered_layout(g)
    tops = sorted({y for _, y in pos.values()})
    assert len(tops) > 2, "one long row"
    width, height = layout_extent(g, pos)
    assert 0.8 < (width / height) / (CANVAS[0] / CANVAS[1]) < 2.5   # about the canvas's shape
    for i in range(1, 30):   # along a band, each step goes one column right; a wrap starts at the left
        (ax, ay), (bx, by) = pos[f"fc{i - 1}"], pos[f"fc{i}"]
        assert (by == ay and bx == ax + COLUMN_WIDTH) or (by > ay and bx == 0.0)
    assert layered_layout(g, canvas=None) != pos
    assert len({y for _, y in layered_layout(g, canvas=None).values()}) == 1


def test_a_graph_that_fits_at_100_percent_stays_in_one_row():
    g = _chain(2)
    pos = layered_layout(g)
    assert len({y for _, y in pos.values()}) == 1


def test_layout_is_deterministic():
    for path in example_paths():
        assert layered_layout(load_graph(path)) == layered_layout(load_graph(path))


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
    apply_layout(g, layered_layout(g, canvas=None))
    assert sorted(moved) == sorted(g.nodes)
    assert g.node("fc2").position[0] > g.node("fc1").position[0]
