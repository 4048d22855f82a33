"""The bundled app's entry script: ``layerloom.nodeeditor.app:main``, as the ``layerloom`` command runs it.

PyInstaller needs a script, not an entry point. ``main`` calls ``multiprocessing.freeze_support()``
first, so a spawned child (a training run, an export) that starts this executable again runs its
task and exits instead of opening a second window."""

import sys

from layerloom.nodeeditor.app import main

if __name__ == "__main__":
    sys.exit(main())
