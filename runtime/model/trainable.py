"""Which nodes train and which are frozen (fine-tuning), and the parameter counts that say so.

A node is frozen when its record says ``"trainable": false`` (``Node.trainable``, set with
``Graph.set_trainable``). The compiler turns its parameters' gradients off and keeps its batch norms'
statistics; the optimizer gets only the trainable parameters. Here live the rules the editor and the CLI
show: which nodes have a switch at all (those with weights) and how many parameters are frozen.
"""

from __future__ import annotations

from layerloom.model.analysis import Analysis


def has_weights(analysis: Analysis, node_id: str) -> bool:
    """The node has a trainable switch: it has weights (or is frozen already, so it can be unfrozen)."""
    info = analysis.nodes.get(node_id)
    frozen = node_id in analysis.graph and not analysis.graph.node(node_id).trainable
    return frozen or (info is not None and bool(info.param_count))


def frozen_ids(analysis: Analysis) -> list[str]:
    """The frozen nodes, in the graph's order."""
    return [node.id for node in analysis.graph if not node.trainable]


def frozen_params(analysis: Analysis) -> int:
    """Parameters in frozen nodes (their known counts): what training leaves as loaded."""
    return sum(analysis.nodes[nid].param_count or 0 for nid in frozen_ids(analysis) if nid in analysis.nodes)


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
