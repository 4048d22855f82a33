"""The main window and what only it opens.

- ``main_window``: ``EditorWindow``, the docks and workspaces around one document; its behaviour comes
  from the mixins below, each one responsibility.
- ``menus``: every menu entry and tool-bar button in one table (``MENUS``) and the builder; the
  shortcuts dialog lists the same table.
- ``files``: open, save, recent files, the title, autosave and crash recovery.
- ``editing``: undo, clipboard, quick add and wire drops, layout, snapping.
- ``blocks``: group, ungroup, open, import and export blocks.
- ``help_menu``: the welcome page, the tour, shortcuts, node help, plugins.
- ``themes``: the dark and light themes and their icons.
- ``welcome``: the first-run page and example gallery.

May import: every other package of the editor.
"""
