"""The docks and forms around the canvas: palette, inspector and its parameter editors, the training
form, the runs list, help, the export dialog and the window's two workspaces (Design, Train).

May import: ``document``, ``canvas``, ``adapters``, ``theme`` and the core.
"""
