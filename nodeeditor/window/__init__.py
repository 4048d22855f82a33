"""The main window and what only it opens: workspaces, the welcome page, the export dialog.

May import: every other package of the editor.
"""
