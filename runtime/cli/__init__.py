"""``layerloom-cli``: check, nodes, compile, code, train, datasets, runs, export (``main`` parses the
command line; ``train`` and ``export`` hold the two long commands).

May import: every runtime package. Nothing imports it.
"""
