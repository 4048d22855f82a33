"""Layered left-to-right layout (a small Sugiyama): columns by longest path from the sources,
rows ordered by the average row of each node's predecessors to reduce crossings."""

from __future__ import annotations

from layerloom.model.graph import Graph

COLUMN_WIDTH = 270.0  # a 190 px card and room for a wire's shape label
ROW_HEIGHT = 140.0


def layered_layout(graph: Graph, column_width: float = COLUMN_WIDTH,
                   row_height: float = ROW_HEIGHT) -> dict[str, tuple[float, float]]:
    """Positions for every node. Nodes in cycles go to one column after the rest."""
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
    columns: dict[int, list[str]] = {}
    for nid in graph.nodes:
        columns.setdefault(column[nid], []).append(nid)
    row: dict[str, float] = {}
    for c in sorted(columns):
        members = columns[c]
        keys = {}
        for index, nid in enumerate(members):
            preds = [row[e.src] for e in graph.incoming(nid) if e.src in row]
            keys[nid] = sum(preds) / len(preds) if preds else float(index)
        members.sort(key=keys.__getitem__)
        for r, nid in enumerate(members):
            row[nid] = float(r)
    positions = {}
    for c, members in columns.items():
        offset = (len(members) - 1) / 2.0
        for nid in members:
            positions[nid] = (c * column_width, (row[nid] - offset) * row_height)
    return positions


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
