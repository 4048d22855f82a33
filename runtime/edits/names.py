"""Names a user types for new things: why a block name is refused, and a free name to suggest.

``block_name_refusal(graph, name)`` says in one sentence why ``name`` cannot name a new block of
``graph`` (empty, bad characters, too long, starting with a digit, taken), or None when it may; the
editor's name dialog shows the sentence under the field while the user types. ``free_block_name``
is the first ``Block<n>`` not taken. The rule is ``layerloom.model.blocks.NAME_RE`` (what a graph file
accepts) plus "not taken"; ``plan_group`` refuses exactly these names.
"""

from __future__ import annotations

import re

from layerloom.model.blocks import NAME_RE
from layerloom.model.graph import Graph

MAX_LENGTH = 64
_ALLOWED = re.compile(r"[A-Za-z0-9_]")


def block_name_refusal(graph: Graph, name: str) -> str | None:
    """Why ``name`` cannot be the name of a new block of ``graph`` (a sentence), or None when it can."""
    if not name:
        return "Type a name for the block"
    bad = sorted(set(ch for ch in name if not _ALLOWED.fullmatch(ch)))
    if bad:
        shown = ", ".join("space" if ch == " " else repr(ch) for ch in bad)
        return f"Use only letters, digits and _ (not {shown})"
    if name[0].isdigit():
        return "A block name cannot start with a digit"
    if len(name) > MAX_LENGTH:
        return f"At most {MAX_LENGTH} characters ({len(name)} typed)"
    if name in graph.blocks:
        return f"A block called {name} already exists; choose another name"
    if not NAME_RE.fullmatch(name):  # pragma: no cover - the checks above cover the pattern
        return "Use letters, digits and _ (at most 64, not starting with a digit)"
    return None


def free_block_name(graph: Graph, stem: str = "Block") -> str:
    """The first of ``Block1``, ``Block2``... that no block of ``graph`` has."""
    return next(f"{stem}{i}" for i in range(1, len(graph.blocks) + 2) if f"{stem}{i}" not in graph.blocks)
