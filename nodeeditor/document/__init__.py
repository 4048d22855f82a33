"""One open graph (``document``): its undo commands (``commands``), clipboard (``clipboard``), the open
block levels (``block_scopes``) and autosave with crash recovery (``autosave``).

Rules live in the core (``layerloom.edits``); this package turns their edits into undo commands.
May import: ``canvas``, ``adapters``, ``theme`` and the core.
"""
