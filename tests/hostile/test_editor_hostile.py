"""Hostile things the user did not type: recovery copies and their records, a layer too big for memory."""

from __future__ import annotations

import os
import threading

import pytest

from layerloom.nodeeditor.document.autosave import SUFFIX, Autosaver
from layerloom import Graph, save_graph


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


def test_a_layer_too_big_for_memory_is_said_in_sizes_not_allocator_text():
    from layerloom import CompileError, compile_graph

    graph = Graph(name="too big")
    graph.add_node("Input", "x", {"shape": [1_000_000]}, node_id="x")
    graph.add_node("Linear", "fc", {"out_features": 1_000_000}, node_id="fc")
    graph.add_node("Output", "out", node_id="out")
    graph.connect("x", "out", "fc", "in")
    graph.connect("fc", "out", "out", "in")
    with pytest.raises(CompileError) as info:
        compile_graph(graph)
    text = str(info.value)
    assert '"fc"' in text and "1,000,001,000,000 weights" in text and "GiB" in text
    assert "DefaultCPUAllocator" not in text and "make it smaller" in text
