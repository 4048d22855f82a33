"""Edits: the editing rules as pure planners. Each takes the model's graph (``root``) and the level being
edited (``scope``: None for the model, a block's name for that block's inside), decides what a user action
does, and returns a ``Plan``: plain edit records (add a node, set a param, rename, connect...) and the
refusals with their messages. A planner never changes the graph; ``apply_plan`` carries a plan out through
the public graph API (scripts, tests), and the editor turns each record into an undo command instead, one
undo step per plan.

- ``plan``: the edit records, ``Refusal``, ``Plan``, ``apply_plan`` and fresh node ids.
- ``params``: node params bound to block params (``"$channels"``): which values a param may take, which
  block params it may use, making, defaulting and removing block params.
- ``blocks``: adding a node ("a block cannot contain itself"), renaming a node (an Input or Output inside a
  block renames the block's port and rewires every instance), grouping and ungrouping.
- ``paste``: what a copy carries and what a paste adds: fresh ids and names, offsets, the blocks that travel
  along (renamed on a clash), and each node left out with the reason.
- ``wiring``: while a wire is dragged, which ports can take it and why the others cannot
  (``port_verdicts``); which port of a new node a wire dropped on empty canvas connects to.
- ``spacing``: nothing overlaps: card sizes, making room around a node dropped or inserted (auto-offset),
  where a paste lands, tidying a block's inside (``MoveNode`` records).
- ``names``: which names a block may take, and why not.
- ``loss``: a Target and the loss a task needs, wired to the prediction of a graph that has none (an
  imported model).

May import: ``layerloom.core``, ``layerloom.catalog``, ``layerloom.model`` and ``layerloom.files``; never
the compiler, training, torch or Qt.
"""

from __future__ import annotations

from layerloom.edits.plan import (AddEdge, AddNode, Connect, Disconnect, Edit, InstallBlock, MoveNode, Plan, Refusal,
                                  RemoveNode, Rename, SetParam, UpdateBlock, apply_plan, graph_at, scope_of)

__all__ = ["AddEdge", "AddNode", "Connect", "Disconnect", "Edit", "InstallBlock", "MoveNode", "Plan", "Refusal",
           "RemoveNode", "Rename", "SetParam", "UpdateBlock", "apply_plan", "graph_at", "scope_of"]
