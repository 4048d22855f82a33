"""The canvas: the scene that mirrors one graph (``scene``), node cards, ports and wires (``items``), the
zooming, panning view (``view``) and the quick-add popup (``quick_add``).

May import: ``theme``, ``adapters`` and the core.
"""
