"""Adapters between the plain-Python core and Qt: graph events as signals (``bridge``), a training run
as signals (``run_bridge``), slow work off the GUI thread (``background``).

May import: ``layerloom.nodeeditor.theme`` and the core.
"""
