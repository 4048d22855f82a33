"""The editor under hostile files it finds on its own: recovery copies and their records."""

from __future__ import annotations

import os
import threading

import pytest

from nodeeditor.autosave import SUFFIX, Autosaver
from runtime import Graph, save_graph


@pytest.mark.parametrize("meta", ['["a list"]', '"text"', "42", '{"original": 7, "saved_at": null}', "{not json"])
def test_a_damaged_recovery_record_still_offers_the_copy(tmp_path, meta):
    save_graph(Graph(name="lost work"), tmp_path / f"abc{SUFFIX}")
    (tmp_path / f"abc{SUFFIX}").with_suffix(".meta").write_text(meta, encoding="utf-8")
    (found,) = Autosaver(tmp_path).found()
    assert found.original is None
    assert Autosaver.load(found).name == "lost work"


def test_a_pipe_as_a_recovery_record_does_not_block_the_start(tmp_path):
    save_graph(Graph(name="lost work"), tmp_path / f"abc{SUFFIX}")
    meta = (tmp_path / f"abc{SUFFIX}").with_suffix(".meta")
    os.mkfifo(meta)
    found = []
    reader = threading.Thread(target=lambda: found.extend(Autosaver(tmp_path).found()), daemon=True)
    reader.start()
    reader.join(10)
    if reader.is_alive():   # free the blocked reader so the test fails instead of hanging
        with open(meta, "w"):
            pass
        reader.join(10)
        pytest.fail("reading a named pipe as a recovery record blocked the start")
    assert [f.original for f in found] == [None]
