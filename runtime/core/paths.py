"""Where LayerLoom keeps the user's things on disk: one data folder per platform (plugins, downloaded
datasets). ``$XDG_DATA_HOME/layerloom`` (``~/.local/share/layerloom``) on Linux, ``~/Library/Application
Support/LayerLoom`` on macOS, ``%APPDATA%\\LayerLoom`` on Windows (``%LOCALAPPDATA%`` for large files that
need not follow a roaming profile, such as datasets)."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def user_data_dir(local: bool = False) -> Path:
    """The user's LayerLoom data folder (not created). ``local``: on Windows, the machine-local one."""
    home = Path.home()
    if sys.platform == "win32":
        variable, fallback = ("LOCALAPPDATA", "Local") if local else ("APPDATA", "Roaming")
        return Path(os.environ.get(variable) or home / "AppData" / fallback) / "LayerLoom"
    if sys.platform == "darwin":
        return home / "Library" / "Application Support" / "LayerLoom"
    return Path(os.environ.get("XDG_DATA_HOME") or home / ".local" / "share") / "layerloom"
