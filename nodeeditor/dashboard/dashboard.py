"""Moved to ``layerloom.nodeeditor.dashboard.controller``; this name goes once the window imports it there."""

from layerloom.nodeeditor.dashboard.controller import STOP_TIMEOUT_S, Dashboard  # noqa: F401
