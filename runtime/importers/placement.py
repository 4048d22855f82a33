"""Where an imported model's nodes go on the canvas.

A small model gets the editor's own layout (``layerloom.model.layout.layered_layout``: layers left to right,
wrapped into rows when long). A deep one (hundreds of nodes, a ResNet or an Inception) gets the same kind of
rows, computed in one pass: layers by longest path, nodes of a layer in the order of their predecessors, and as
many layers a row as makes the whole model about as wide as the canvas is, so Zoom to Fit shows a grid of rows
read left to right, top to bottom, and the editor can start at a readable zoom on the first row.
"""

from __future__ import annotations

from layerloom.model.graph import Graph
from layerloom.model.layout import (BAND_GAP, CANVAS, CARD_GAP, COLUMN_WIDTH, ROW_HEIGHT, card_height, fit_scale,
                                    layered_layout, ordered_layers)

SMALL = 150   # nodes: up to this many, the editor's layout (it tries every wrap, quadratic in the depth)


def readable_layout(graph: Graph) -> dict[str, tuple[float, float]]:
    """Positions (top-left corners) for every node of ``graph``."""
    if len(graph) <= SMALL:
        return layered_layout(graph)
    layers = _layers(graph)
    heights = {nid: card_height(graph, nid) for nid in graph.nodes}
    best = None
    for per_band in _candidates(len(layers)):
        extent = _extent(layers, heights, per_band)
        zoom = fit_scale(extent, CANVAS)
        if best is None or zoom > best[0] + 1e-12:
            best = (zoom, per_band)
    return _rows(layers, heights, best[1])


def _layers(graph: Graph) -> list[list[str]]:
    order, cyclic = graph.topological_order()
    column: dict[str, int] = {}
    for nid in order:
        column[nid] = 1 + max((column[e.src] for e in graph.incoming(nid) if e.src in column), default=-1)
    last = max(column.values(), default=-1) + 1
    for nid in graph.nodes:
        column.setdefault(nid, last)   # cycles: after the rest (an import has none)
    return ordered_layers(graph, column)


def _candidates(depth: int) -> list[int]:
    """Layers per row to try: every count up to 12, then steps of about 10%."""
    values, n = set(), 1
    while n < depth:
        values.add(n)
        n = n + 1 if n < 12 else int(n * 1.1) + 1
    values.add(max(depth, 1))
    return sorted(values)


def _band_shape(band: list[list[str]], heights: dict[str, float]) -> tuple[float, int, float]:
    tallest = max(heights[nid] for layer in band for nid in layer)
    slot = max(ROW_HEIGHT, tallest + CARD_GAP)
    rows = max(len(layer) for layer in band)
    return slot, rows, tallest


def _extent(layers: list[list[str]], heights: dict[str, float], per_band: int) -> tuple[float, float]:
    height = 0.0
    for start in range(0, len(layers), per_band):
        slot, rows, tallest = _band_shape(layers[start:start + per_band], heights)
        height += (rows - 1) * slot + tallest + BAND_GAP
    width = (min(per_band, len(layers)) - 1) * COLUMN_WIDTH + 190.0
    return width, max(height - BAND_GAP, 0.0)


def _rows(layers: list[list[str]], heights: dict[str, float], per_band: int) -> dict[str, tuple[float, float]]:
    positions: dict[str, tuple[float, float]] = {}
    top = 0.0
    for start in range(0, len(layers), per_band):
        band = layers[start:start + per_band]
        slot, rows, tallest = _band_shape(band, heights)
        for i, layer in enumerate(band):
            offset = (rows - len(layer)) / 2.0
            for r, nid in enumerate(layer):
                positions[nid] = (i * COLUMN_WIDTH, top + (r + offset) * slot)
        top += (rows - 1) * slot + tallest + BAND_GAP
    return positions
