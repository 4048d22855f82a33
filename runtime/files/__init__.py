"""Files: the versioned JSON graph format (``graphfile``), block library files (``block_library``) and
the files LayerLoom ships (``resources``: examples, icons, example plugins).

May import: ``layerloom.core``, ``layerloom.catalog`` and ``layerloom.model``.
"""
