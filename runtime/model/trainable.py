"""Which nodes train and which are frozen (fine-tuning), and the parameter counts that say so.

A node is frozen when its record says ``"trainable": false`` (``Node.trainable``, set with
``Graph.set_trainable``). The compiler turns its parameters' gradients off and keeps its batch norms'
statistics; the optimizer gets only the trainable parameters. Here live the rules the editor and the CLI
show: which nodes have a switch at all (those with weights) and how many parameters are frozen.
"""

from __future__ import annotations

from layerloom.core.errors import ShapeError
from layerloom.model.analysis import Analysis
from layerloom.model.blocks.expansion import BlockSpec
from layerloom.model.graph import Graph


def has_weights(analysis: Analysis, node_id: str) -> bool:
    """The node has a trainable switch: it has weights (or is frozen already, so it can be unfrozen)."""
    info = analysis.nodes.get(node_id)
    frozen = node_id in analysis.graph and not analysis.graph.node(node_id).trainable
    return frozen or (info is not None and bool(info.param_count))


def frozen_ids(analysis: Analysis) -> list[str]:
    """The frozen nodes, in the graph's order."""
    return [node.id for node in analysis.graph if not node.trainable]


def frozen_params(analysis: Analysis, definition: Graph | None = None) -> int:
    """Parameters in frozen nodes (their known counts): what training leaves as loaded. A block instance
    that is not frozen itself counts the frozen nodes of its inside (once per repeat). ``definition``: the
    block whose inside ``analysis`` is (its records say which nodes are frozen)."""
    records = definition if definition is not None else analysis.graph
    total = 0
    for node_id, info in analysis.nodes.items():
        if node_id in records and not records.node(node_id).trainable:
            total += info.param_count or 0
        elif isinstance(info.spec, BlockSpec) and info.param_count:
            block = info.spec.owner.blocks.get(info.spec.block) if info.spec.owner is not None else None
            if block is not None and any(not node.trainable for node in block.graph):
                try:
                    runs = info.spec.expand(info.context()).runs
                except ShapeError:
                    continue
                total += sum(frozen_params(inside, block.graph) for _, inside in runs)
    return total


def params_summary(analysis: Analysis) -> str:
    """The parameter total as shown, with the frozen share: ``"4,160"`` or ``"4,160 (4,010 frozen)"``."""
    frozen = frozen_params(analysis)
    return analysis.params_text() + (f" ({frozen:,} frozen)" if frozen else "")


def to_switch(analysis: Analysis, node_ids, trainable: bool) -> list[str]:
    """Of ``node_ids`` (a selection), the nodes that freezing (``trainable`` False) or unfreezing would
    change: those with weights whose switch is the other way. Empty: the menu entry is not offered."""
    graph = analysis.graph
    return [nid for nid in node_ids if nid in graph and has_weights(analysis, nid)
            and graph.node(nid).trainable != trainable]


def switch_text(graph, node_ids: list[str], trainable: bool) -> str:
    """The undo step's name: ``"Freeze fc1"``, ``"Unfreeze 3 nodes"``."""
    verb = "Unfreeze" if trainable else "Freeze"
    return f"{verb} {graph.node(node_ids[0]).name}" if len(node_ids) == 1 else f"{verb} {len(node_ids)} nodes"
