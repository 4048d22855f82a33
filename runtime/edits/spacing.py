"""Room on the canvas: node cards never overlap (Blender's auto-offset).

A card's size follows from its ports (``card_size``: the editor's card geometry, as numbers). When a
gesture puts nodes somewhere (a drop, an insert into a wire, a quick add, a group's instance, an
ungroup's nodes), ``plan_make_room`` pushes the neighbours they land on aside, each along one
direction, and those push theirs in turn; the new nodes stay where the user put them. ``plan_tidy``
lays out a level whose nodes have no position or overlap (a block's inside opened for the first time),
and ``free_offset`` finds where a pasted selection lands clear of the nodes already there.

The answers are ``MoveNode`` records (``layerloom.edits.plan``): the editor carries them out in the
same undo step as the gesture. Pure: nothing here changes a graph.
"""

from __future__ import annotations

from typing import Iterable

from layerloom.edits.plan import MoveNode, Plan, Scope
from layerloom.model.graph import Graph
# The editor's card geometry lives with the layout (a GUI test keeps it equal to the canvas's cards).
from layerloom.model.layout import CARD_HEADER, CARD_ROW, CARD_WIDTH, card_height, layered_layout, unplaced

GAP = 20.0          # the least room kept between two cards (one grid step)...
WIRE_ROOM = 3.0     # ...times this side by side, so a wire and its shape label still show between them
STEPS = 5000        # how many pushes one plan may take before the rest go below everything

Rect = tuple[float, float, float, float]   # x, y (top-left), width, height


def card_size(graph: Graph, node_id: str) -> tuple[float, float]:
    """The width and height of ``node_id``'s card, from its current ports."""
    return CARD_WIDTH, card_height(graph, node_id)


def node_rects(graph: Graph) -> dict[str, Rect]:
    """Every node's card as a rectangle, at its position."""
    rects = {}
    for node in graph:
        w, h = card_size(graph, node.id)
        x, y = node.position
        rects[node.id] = (float(x), float(y), w, h)
    return rects


def intersects(a: Rect, b: Rect, gap: float = 0.0, gap_y: float | None = None) -> bool:
    """True when the rectangles overlap, or come closer than ``gap`` (``gap_y`` up and down, if given)."""
    gap_y = gap if gap_y is None else gap_y
    return a[0] < b[0] + b[2] + gap and b[0] < a[0] + a[2] + gap and \
        a[1] < b[1] + b[3] + gap_y and b[1] < a[1] + a[3] + gap_y


def overlapping_pairs(graph: Graph, gap: float = 0.0) -> list[tuple[str, str]]:
    """The pairs of nodes whose cards overlap (or come closer than ``gap``), in the graph's order."""
    rects = node_rects(graph)
    ids = list(rects)
    return [(a, b) for i, a in enumerate(ids) for b in ids[i + 1:] if intersects(rects[a], rects[b], gap)]


# ------------------------------------------------------------------------- pushing
def _clearance(pusher: Rect, mover: Rect, direction: str, gap: float) -> float:
    """How far ``mover`` must go in ``direction`` to clear ``pusher`` by ``gap``."""
    px, py, pw, ph = pusher
    mx, my, mw, mh = mover
    return {"right": px + pw + gap * WIRE_ROOM - mx, "left": mx + mw + gap * WIRE_ROOM - px,
            "down": py + ph + gap - my, "up": my + mh + gap - py}[direction]


def _direction(pusher: Rect, mover: Rect, axis: str, gap: float) -> str:
    """Away from the pusher: along x (right of its centre goes right), or, with ``axis`` "auto", along
    whichever axis needs the shorter move."""
    horizontal = "right" if mover[0] + mover[2] / 2 >= pusher[0] + pusher[2] / 2 else "left"
    if axis == "x":
        return horizontal
    vertical = "down" if mover[1] + mover[3] / 2 >= pusher[1] + pusher[3] / 2 else "up"
    return horizontal if _clearance(pusher, mover, horizontal, gap) <= _clearance(pusher, mover, vertical, gap) \
        else vertical


def _shifted(rect: Rect, direction: str, amount: float) -> Rect:
    x, y, w, h = rect
    dx, dy = {"right": (amount, 0), "left": (-amount, 0), "down": (0, amount), "up": (0, -amount)}[direction]
    return x + dx, y + dy, w, h


def push_apart(rects: dict[str, Rect], pinned: Iterable[str], axis: str = "x", gap: float = GAP,
               movable: Iterable[str] | None = None) -> dict[str, Rect]:
    """New rectangles for the nodes that must move so that none overlaps a pinned one, nor one moved:
    a node a pinned (or moved) card lands on goes away from it along one direction, and pushes the ones
    it then lands on (overlaps among nodes nobody touched stay). ``movable``: the only nodes that may move
    (default: every unpinned one). Returns only the moved ones."""
    rects = dict(rects)
    pinned = [p for p in pinned if p in rects]
    fixed = set(pinned)
    may_move = set(rects) - fixed if movable is None else set(movable) - fixed
    direction: dict[str, str] = {}
    moved: list[str] = []
    for _ in range(STEPS):
        pair = _first_clash(rects, pinned + moved, gap, fixed | may_move)
        if pair is None:
            break
        pusher, mover = _roles(pair, fixed, may_move, direction, rects)
        if mover is None:
            break
        way = direction.setdefault(mover, _direction(rects[pusher], rects[mover], axis, gap))
        rects[mover] = _shifted(rects[mover], way, max(_clearance(rects[pusher], rects[mover], way, gap), 1.0))
        if mover not in moved:
            moved.append(mover)
    else:   # a tangle the pushes did not settle: the ones still clashing go in a row below everything
        _below(rects, moved, pinned, gap)
    return {nid: rects[nid] for nid in moved}


def _first_clash(rects: dict[str, Rect], involved: list[str], gap: float, relevant: set[str]):
    for a in involved:
        for b, rect in rects.items():
            if b != a and b in relevant and intersects(rects[a], rect, gap * WIRE_ROOM - 0.01, gap - 0.01):
                return a, b
    return None


def _roles(pair, fixed: set[str], may_move: set[str], direction: dict[str, str], rects) -> tuple[str, str | None]:
    """Which of a clashing pair pushes and which moves: a pinned card never moves; an untouched one
    moves before a moved one; of two moved ones, the one further along its way goes on."""
    a, b = pair
    if a in fixed or a not in may_move:
        return a, (b if b in may_move else None)
    if b in fixed or b not in may_move:
        return b, a
    if b not in direction:
        return a, b
    if a not in direction:
        return b, a
    return (a, b) if _ahead(rects[b], rects[a], direction[b]) else (b, a)


def _ahead(rect: Rect, other: Rect, way: str) -> bool:
    centre = {"right": rect[0] - other[0], "left": other[0] - rect[0],
              "down": rect[1] - other[1], "up": other[1] - rect[1]}
    return centre[way] >= 0


def _below(rects: dict[str, Rect], moved: list[str], pinned: list[str], gap: float) -> None:
    bottom = max(r[1] + r[3] for r in rects.values())
    x = min(r[0] for r in rects.values())
    for nid in list(moved):
        if any(intersects(rects[nid], rects[o], gap - 0.01) for o in rects if o != nid):
            w, h = rects[nid][2], rects[nid][3]
            rects[nid] = (x, bottom + gap, w, h)
            x += w + gap


# ------------------------------------------------------------------------- plans
def plan_make_room(graph: Graph, new_node_ids: Iterable[str], scope: Scope = None, axis: str = "x",
                   gap: float = GAP) -> Plan:
    """Moves that clear the cards of ``new_node_ids`` (already in ``graph``, where they were put) of
    every other card: the new nodes first clear each other (the later ones move), then every card they
    land on is pushed aside along ``axis`` ("x": left or right of the new card, as in Blender; "auto":
    the shorter way), cascading. No edits when nothing overlaps."""
    new = [nid for nid in new_node_ids if nid in graph.nodes]
    if not new:
        return Plan()
    rects = node_rects(graph)
    final = dict(rects)
    final.update(push_apart({nid: rects[nid] for nid in new}, new[:1], "auto", gap))
    final.update(push_apart(final, new, axis, gap))
    return _moves(graph, final, scope)


def plan_tidy(graph: Graph, scope: Scope = None, gap: float = GAP) -> Plan:
    """Moves that lay out a level whose nodes have no position (``layered_layout``) or whose cards overlap
    or touch (each pushed clear of the ones before it, the shorter way). No edits when all is tidy."""
    rects = node_rects(graph)
    if unplaced(graph):
        positions = layered_layout(graph)
        rects = {nid: (*positions[nid], w, h) for nid, (_, _, w, h) in rects.items()}
    ids = list(rects)
    for k in range(len(ids)):   # each card clear of the ones before it
        rects.update(push_apart(rects, ids[:k + 1], "auto", gap, movable=ids[k:]))
    return _moves(graph, rects, scope, "Tidy " + (f"the inside of {scope}" if scope else "the graph"))


def tidied(graph: Graph, positions: dict[str, tuple[float, float]], gap: float = GAP) -> dict[str, tuple[float, float]]:
    """``positions`` (a layout's, for every node of ``graph``) with the cards that would overlap or touch
    pushed apart, the shorter way."""
    rects = {nid: (*positions[nid], *card_size(graph, nid)) for nid in positions}
    ids = list(rects)
    for k in range(len(ids)):
        rects.update(push_apart(rects, ids[:k + 1], "auto", gap, movable=ids[k:]))
    return {nid: (round(x, 1), round(y, 1)) for nid, (x, y, _, _) in rects.items()}


def _moves(graph: Graph, rects: dict[str, Rect], scope: Scope, text: str | None = None) -> Plan:
    edits, loose = [], set(unplaced(graph))
    for nid, (x, y, _, _) in rects.items():
        if (round(x, 1), round(y, 1)) != tuple(graph.node(nid).position) or nid in loose:
            edits.append(MoveNode(nid, (round(x, 1), round(y, 1)), scope))
    return Plan(text if edits else None, edits)


def free_offset(rects: dict[str, Rect], placed: Iterable[Rect], offset: tuple[float, float],
                gap: float = GAP, step: float = CARD_ROW) -> tuple[float, float]:
    """An offset, as near ``offset`` as the search finds (going down, or right, in ``step``s), at which
    ``rects`` (a pasted selection) clear every one of ``placed``."""
    placed = list(placed)

    def clear(dx: float, dy: float) -> bool:
        return not any(intersects((x + dx, y + dy, w, h), p, gap - 0.01) for x, y, w, h in rects.values()
                       for p in placed)

    dx, dy = offset
    if not rects or clear(dx, dy):
        return dx, dy
    for k in range(1, 10_000):
        for candidate in ((dx, dy + k * step), (dx + k * step, dy)):
            if clear(*candidate):
                return candidate
    return dx, dy  # pragma: no cover - the search always leaves the placed cards behind


def port_y(graph: Graph, node_id: str, port: str, direction: str) -> float:
    """The height of a port's dot on its card, from the card's top (the editor's geometry)."""
    ports = graph.output_ports(node_id) if direction == "out" else graph.input_ports(node_id)
    index = next((k for k, p in enumerate(ports) if p.name == port), 0)
    return CARD_HEADER + CARD_ROW * index + CARD_ROW / 2


def inline_position(graph: Graph, node_id: str, edge) -> tuple[float, float] | None:
    """Where a node going into the straight wire ``edge`` sits so the wire stays straight: its first
    input level with the wire, at the x where it was dropped. None when the wire is not level (it runs
    between rows) or the node is not between the wire's ends."""
    src_y = graph.node(edge.src).position[1] + port_y(graph, edge.src, edge.src_port, "out")
    dst_y = graph.node(edge.dst).position[1] + port_y(graph, edge.dst, edge.dst_port, "in")
    if abs(src_y - dst_y) > 0.5:
        return None
    x = graph.node(node_id).position[0]
    if not graph.node(edge.src).position[0] < x < graph.node(edge.dst).position[0]:
        return None
    inputs = graph.input_ports(node_id)
    if not inputs:
        return None
    return (x, round(src_y - port_y(graph, node_id, inputs[0].name, "in"), 1))
