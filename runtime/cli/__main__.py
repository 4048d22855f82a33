"""``python -m layerloom.cli``: the same as ``layerloom-cli``."""

import sys

from layerloom.cli.main import main

sys.exit(main())
