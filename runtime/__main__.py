"""``python -m layerloom``: the command line, ``layerloom-cli`` (the editor is ``layerloom``)."""

import sys

from layerloom.cli.main import main

sys.exit(main())
