"""The main window and what only it opens: its menus, the welcome page.

May import: every other package of the editor.
"""
