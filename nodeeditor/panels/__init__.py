"""The docks and forms around the canvas: palette, inspector and its parameter editors, the training
form, the runs list and help.

May import: ``document``, ``canvas``, ``adapters``, ``theme`` and the core.
"""
