"""Graph files: the versioned JSON format (``graphfile``) and the files LayerLoom ships (``resources``:
examples, icons, example plugins).

May import: ``layerloom.core``, ``layerloom.catalog`` and ``layerloom.model``.
"""
