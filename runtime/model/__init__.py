"""The graph model: nodes, wires and the id and name rules (``elements``), the graph and its edits
(``graph``), plain node and wire records shared with the file format (``records``), blocks: their
definitions, instances expanded once per edit, editing and grouping (``blocks``), shape and problem
analysis (``analysis``), which nodes are frozen and their parameter counts (``trainable``) and automatic
layout (``layout``).

May import: ``layerloom.core`` and ``layerloom.catalog``. Never files, the compiler or torch.
"""
