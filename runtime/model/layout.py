"""Layered layout (a small Sugiyama) that wraps: layers by longest path from the sources, nodes in a
layer ordered by the average row of their predecessors (fewer crossings), and a long run of layers
wrapped into bands stacked top to bottom, each read left to right, so that the whole graph keeps a
shape a canvas shows at a readable zoom (``CANVAS``). Deterministic: the same graph, the same places.

``fit_scale`` is the zoom at which a canvas shows all of a layout (what Zoom to Fit computes).
"""

from __future__ import annotations

from layerloom.model.graph import Graph

COLUMN_WIDTH = 260.0  # a 190 px card and room for a wire's shape label
ROW_HEIGHT = 140.0    # the least distance from one card's top to the next one's in a layer
BAND_GAP = 30.0       # room between two bands for the wires that wrap back to the left
# The editor's card geometry (nodeeditor/theme/style.py); a GUI test keeps the two equal.
CARD_WIDTH, CARD_HEADER, CARD_ROW, CARD_FOOTER = 190.0, 40.0, 20.0, 22.0
CARD_GAP = 38.0       # least room between two cards of a layer
# A typical canvas: the editor's at 1366x768 with its docks (pixels at 100% zoom), and the margin
# Zoom to Fit leaves around the graph.
CANVAS = (830.0, 540.0)
FIT_MARGIN = 60.0
GOOD_ZOOM = 0.9       # a layout fitting at this zoom or more is not wrapped any further


def card_height(graph: Graph, node_id: str) -> float:
    """A card's height: header, one row per port on its longer side (at least one), footer."""
    rows = max(len(graph.input_ports(node_id)), len(graph.output_ports(node_id)), 1)
    return CARD_HEADER + CARD_ROW * rows + CARD_FOOTER


def fit_scale(extent: tuple[float, float], canvas: tuple[float, float] = CANVAS,
              margin: float = FIT_MARGIN) -> float:
    """The zoom at which ``canvas`` shows a layout ``extent`` (width, height) wide with ``margin`` around."""
    return min(canvas[0] / (extent[0] + 2 * margin), canvas[1] / (extent[1] + 2 * margin))


def layout_extent(graph: Graph, positions: dict[str, tuple[float, float]]) -> tuple[float, float]:
    """The width and height of the cards at ``positions``."""
    if not positions:
        return 0.0, 0.0
    left = min(x for x, _ in positions.values())
    top = min(y for _, y in positions.values())
    right = max(x + CARD_WIDTH for x, _ in positions.values())
    bottom = max(y + card_height(graph, nid) for nid, (_, y) in positions.items())
    return right - left, bottom - top


def _layers(graph: Graph) -> list[list[str]]:
    """Nodes by layer (longest path from the sources), each layer in its crossing-reducing order.
    Nodes in cycles go to one layer after the rest."""
    order, cyclic = graph.topological_order()
    column: dict[str, int] = {}
    for nid in order:
        preds = [e.src for e in graph.incoming(nid) if e.src in column]
        column[nid] = 1 + max((column[p] for p in preds), default=-1)
    # Pull sources (Inputs, Targets) right next to their first consumer so labels sit near losses.
    for nid in order:
        if not graph.incoming(nid):
            consumers = [column[e.dst] for e in graph.outgoing(nid) if e.dst in column]
            if consumers:
                column[nid] = max(0, min(consumers) - 1)
    last = max(column.values(), default=-1) + 1
    for nid in graph.nodes:
        if nid in cyclic:
            column[nid] = last
    return ordered_layers(graph, column)


def ordered_layers(graph: Graph, column: dict[str, int]) -> list[list[str]]:
    """The nodes grouped by ``column`` (a layer number per node), left to right, each layer ordered by the
    average row of its predecessors (fewer crossings; a node with none keeps its place)."""
    columns: dict[int, list[str]] = {}
    for nid in graph.nodes:
        columns.setdefault(column[nid], []).append(nid)
    row: dict[str, float] = {}
    layers = []
    for c in sorted(columns):
        members = columns[c]
        keys = {}
        for index, nid in enumerate(members):
            preds = [row[e.src] for e in graph.incoming(nid) if e.src in row]
            keys[nid] = sum(preds) / len(preds) if preds else float(index)
        members.sort(key=keys.__getitem__)
        for r, nid in enumerate(members):
            row[nid] = float(r)
        layers.append(members)
    return layers


def _banded(graph: Graph, layers: list[list[str]], per_band: int, column_width: float,
            row_height: float) -> dict[str, tuple[float, float]]:
    """Positions with ``per_band`` layers a band: a band's layers side by side, the bands stacked."""
    positions: dict[str, tuple[float, float]] = {}
    top = 0.0
    for start in range(0, len(layers), per_band):
        band = layers[start:start + per_band]
        heights = {nid: card_height(graph, nid) for layer in band for nid in layer}
        slot = max(row_height, max(heights.values()) + CARD_GAP)
        rows = max(len(layer) for layer in band)
        for i, layer in enumerate(band):
            offset = (rows - len(layer)) / 2.0   # a short layer sits in the middle of its band
            for r, nid in enumerate(layer):
                positions[nid] = (i * column_width, top + (r + offset) * slot)
        top += (rows - 1) * slot + max(heights.values()) + BAND_GAP
    return positions


def layered_layout(graph: Graph, column_width: float = COLUMN_WIDTH, row_height: float = ROW_HEIGHT,
                   canvas: tuple[float, float] | None = CANVAS) -> dict[str, tuple[float, float]]:
    """Positions (top-left corners) for every node. The layers wrap into as few bands as make the layout
    fit ``canvas`` at the best zoom wrapping can reach, up to ``GOOD_ZOOM`` (so a graph that fits at about
    100% stays one band, left to right); ``canvas=None`` never wraps."""
    layers = _layers(graph)
    if not layers:
        return {}
    if canvas is None:
        return _banded(graph, layers, len(layers), column_width, row_height)
    options = []
    for per_band in range(len(layers), 0, -1):   # one band first
        positions = _banded(graph, layers, per_band, column_width, row_height)
        options.append((fit_scale(layout_extent(graph, positions), canvas), positions))
    good = min(GOOD_ZOOM, max(zoom for zoom, _ in options))
    return next(positions for zoom, positions in options if zoom >= good - 1e-9)


def apply_layout(graph: Graph, positions: dict[str, tuple[float, float]]) -> None:
    for nid, (x, y) in positions.items():
        graph.move_node(nid, x, y)


def unplaced(graph: Graph) -> list[str]:
    """Nodes whose ``ui`` holds no usable position (none at all, as in a graph written by hand, or
    nonsense such as ``1e300`` or ``"left"``): ``Node.position`` puts every one of them at (0, 0)."""
    def usable(value) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value and abs(value) < 1e9

    return [nid for nid, node in graph.nodes.items()
            if not (usable(node.ui.get("x")) and usable(node.ui.get("y")))]


def place_unplaced(graph: Graph) -> list[str]:
    """Give the ``unplaced`` nodes positions from ``layered_layout`` (below the placed nodes when there
    are any), so none hides under another on a canvas. Returns the ids moved."""
    ids = unplaced(graph)
    if not ids:
        return []
    positions = layered_layout(graph)
    placed = [graph.nodes[nid].position for nid in graph.nodes if nid not in ids]
    dy = 0.0
    if placed:   # keep the placed nodes where they are: the others go in rows below them
        dy = max(y for _, y in placed) + 2 * ROW_HEIGHT - min(positions[nid][1] for nid in ids)
    for nid in ids:
        x, y = positions[nid]
        graph.move_node(nid, x, y + dy)
    return ids
