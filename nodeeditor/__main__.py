"""``python -m layerloom.nodeeditor``: the editor, as the ``layerloom`` command opens it."""

import sys

from layerloom.nodeeditor.app import main

sys.exit(main())
