"""Colours and sizes of both themes (``style``), the icon set (``icons``) and samples drawn as pictures
(``pictures``). Imports only Qt and numpy."""
