"""Copy, cut, paste and duplicate through the system clipboard. The selection travels as a small graph
document (the file format itself, as JSON text), so it pastes into any open document, another
LayerLoom window, or a text editor; what a copy holds and what a paste adds are the rules of
``layerloom.edits.paste``."""

from __future__ import annotations

from PySide6.QtWidgets import QApplication

from layerloom import Graph
from layerloom.edits.paste import OFFSET, plan_paste, read_selection, selection_text

__all__ = ["OFFSET", "clipboard_text", "copy_to_clipboard", "paste", "selection_text"]


def copy_to_clipboard(graph: Graph, node_ids: list[str]) -> bool:
    if not node_ids:
        return False
    # Plain text only: the graph format identifies itself ("format": "layerloom-graph"), and a
    # Python-made QMimeData handed to the clipboard crashed PySide at interpreter exit (measured).
    QApplication.clipboard().setText(selection_text(graph, node_ids))
    return True


def clipboard_text() -> str | None:
    text = QApplication.clipboard().text()
    return text or None


def paste(document, text: str, offset: float = OFFSET, left_out: list[str] | None = None) -> list[str]:
    """Add the nodes of a copied graph to ``document`` as one undo step: fresh ids and names,
    shifted by ``offset``, wired as they were. Returns the new node ids (empty if the text is not a
    graph); each node that could not be added is described in ``left_out`` (its type, name and why)."""
    part = read_selection(text, document.graph.catalog)
    if part is None:
        return []
    plan = plan_paste(document.top.graph, document.scope, part, offset)
    if left_out is not None:
        left_out += [refusal.message for refusal in plan.refusals]
    return plan.added_ids if document.carry_out(plan) else []
