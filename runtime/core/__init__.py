"""The bottom layer: the words every other package uses, and nothing else.

Errors (``errors``), plain-Python change events (``events``), tensor specs (``shapes``), parameter
specs (``params``), lazy imports (``lazy``) and the two file primitives: atomic writes (``atomic``) and
reading only regular files (``fileio``); where the user's data folder is (``paths``).

May import: the standard library and numpy. Nothing from ``layerloom``.
"""
