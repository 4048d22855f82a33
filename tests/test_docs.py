"""The docs stay true: every training setting and CLI command is documented."""

from __future__ import annotations

from pathlib import Path

from layerloom.cli.main import _parser
from layerloom.training.config import SECTIONS, TOP_PARAMS

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_every_training_setting_is_in_the_reference():
    text = (DOCS / "training.md").read_text()
    reference = text[text.index("## Settings reference"):]
    for spec in TOP_PARAMS:
        assert f"| `{spec.name}` |" in reference, spec.name
    for section, specs in SECTIONS.items():
        part = reference[reference.index(f"### `{section}`"):]
        for spec in specs:
            assert f"| `{spec.name}` |" in part, f"{section}.{spec.name}"


def test_every_export_option_is_documented():
    text = (DOCS / "export.md").read_text()
    export = next(a for a in _parser()._subparsers._group_actions[0].choices.items() if a[0] == "export")[1]
    for action in export._actions:
        for option in action.option_strings:
            if option.startswith("--") and option != "--help":
                assert option in text, option
