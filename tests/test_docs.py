"""The docs stay true: every training setting and CLI command is documented, the architecture page shows
the layers that are checked."""

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


def _layers_table(text: str, heading: str) -> list[list[str]]:
    """The package column of the layers table under ``heading``, bottom layer first, each row's packages."""
    part = text[text.index(heading):]
    rows = []
    for line in part.splitlines()[1:]:
        if line.startswith("## "):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].isdigit():
            rows.append([name.strip("` ").removeprefix("layerloom.") for name in cells[1].split(",")])
    return rows


def test_the_architecture_page_shows_the_checked_layers():
    """docs/architecture.md's layer tables are the import-linter contracts of pyproject.toml, in order."""
    import re
    import tomllib

    text = (DOCS / "architecture.md").read_text()
    contracts = tomllib.loads((DOCS.parent / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    layers = {c["containers"][0]: c["layers"] for c in contracts if c["type"] == "layers"}

    def contract(container: str) -> list[list[str]]:
        return [sorted(re.sub(r"[()]", "", name).strip() for name in layer.split("|"))
                for layer in reversed(layers[container])]

    assert [sorted(row) for row in _layers_table(text, "## The core's layers")] == contract("layerloom")
    assert [sorted(row) for row in _layers_table(text, "## The editor's layers")] == contract("layerloom.nodeeditor")


def test_every_layerloom_import_in_the_docs_resolves():
    """A snippet a reader copies imports names that exist where the snippet says (modules move: issue 16)."""
    import ast
    import importlib
    import importlib.util
    import re
    import textwrap

    pages = [DOCS.parent / "README.md", *sorted(DOCS.glob("*.md")), *sorted(DOCS.glob("guide/*.md"))]
    checked = 0
    for page in pages:
        for block in re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.S):
            block = textwrap.dedent(block)
            try:
                tree = ast.parse(block)
            except SyntaxError:  # a fragment (``...``): its import lines alone
                tree = ast.parse("\n".join(line.strip() for line in block.splitlines()
                                           if line.strip().startswith(("from layerloom", "import layerloom"))))
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("layerloom"):
                    module = importlib.import_module(node.module)
                    for alias in node.names:
                        assert hasattr(module, alias.name) or importlib.util.find_spec(
                            f"{node.module}.{alias.name}"), f"{page.name}: from {node.module} import {alias.name}"
                        checked += 1
                elif isinstance(node, ast.Import):
                    for alias in node.names:
                        if alias.name.startswith("layerloom"):
                            importlib.import_module(alias.name)
                            checked += 1
    assert checked >= 10, checked
