"""LayerLoom's Qt face, ``layerloom.nodeeditor``: the node editor window over the headless core.

It depends on the rest of ``layerloom``; nothing outside it imports Qt or this package. Its packages,
from the bottom up (each may import only those below it, see docs/architecture.md):

- ``theme``: colours, sizes and icons.
- ``adapters``: the Qt side of plain-Python events and of background work (graph events, training runs).
- ``canvas``: the scene that mirrors a graph, its node cards and wires, the view, quick-add.
- ``document``: one open graph, its undo commands, clipboard, block scopes, autosave.
- ``panels``: palette, inspector, parameter editors, training form, runs list, help, the export dialog
  and the two workspaces.
- ``dashboard``: the Train workspace: header, charts, evaluation, Try it.
- ``window``: the main window, its menus and the welcome page.

``app`` is the ``layerloom`` command.
"""
