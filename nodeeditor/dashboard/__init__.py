"""The Train workspace: which run it shows (``run_header``, ``train_view``), the live charts, the
evaluation (confusion matrix, mistakes) and Try it.

May import: ``panels`` and everything below it.
"""
