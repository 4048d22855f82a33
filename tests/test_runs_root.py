"""Where a graph's runs go: beside its file, except for a file LayerLoom ships (an example opened by its
path), whose runs go to the folder for unsaved graphs: the installed package is no place for them."""

from __future__ import annotations

from types import SimpleNamespace

from layerloom.files.resources import example_path
from layerloom.nodeeditor.dashboard.train_view import runs_root


def test_runs_go_beside_the_users_file_but_never_into_the_shipped_examples(tmp_path):
    mine = SimpleNamespace(path=tmp_path / "net.llgraph.json")
    assert runs_root(mine) == tmp_path / "runs"
    shipped = SimpleNamespace(path=example_path("digits_mlp"))
    assert runs_root(shipped, str(tmp_path / "unsaved")) == tmp_path / "unsaved"
    assert runs_root(SimpleNamespace(path=None), str(tmp_path / "unsaved")) == tmp_path / "unsaved"
