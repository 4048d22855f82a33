"""The graph model: nodes, ports, wires and their edits (``graph``), blocks (``blocks``), shape and
problem analysis (``analysis``) and automatic layout (``layout``).

May import: ``layerloom.core`` and ``layerloom.catalog``. Never files, the compiler or torch.
"""
