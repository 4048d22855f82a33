"""Hostile graph files (issue 15, items 2, 8 and 10).

A mutation fuzzer over the shipped examples (and one file with blocks, block params of every kind and
a Formula): values replaced or given another type, keys deleted, renamed or added, list items
duplicated. Whatever it makes, ``loads_graph`` either returns a graph or raises ``GraphFileError``, and a
graph that loaded saves and loads again to the same text. Non-regular files are refused before they are
opened; what LayerLoom saves, it reopens, and a large ``ui`` value saves compactly in linear time."""

from __future__ import annotations

import copy
import json
import os
import threading

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from layerloom import GraphFileError, analyze, dumps_graph, load_graph, loads_graph, save_graph
from layerloom.files.resources import example_paths


def blocks_document() -> dict:
    """A small graph whose block has params of every kind, used through ``$name`` references."""
    return {
        "format": "layerloom-graph", "version": 1, "name": "blocks",
        "blocks": {"Unit": {
            "doc": "Linear, then a formula",
            "inputs": ["x"], "outputs": ["y"],
            "params": [{"name": "width", "kind": "int", "default": 8, "minimum": 1, "maximum": 64},
                       {"name": "gain", "kind": "float", "default": 0.5, "minimum": 0.0},
                       {"name": "bias", "kind": "bool", "default": True},
                       {"name": "act", "kind": "str", "default": "relu(x)", "doc": "the activation"}],
            "nodes": [{"id": "x", "type": "Input", "name": "x", "params": {"shape": [8]}},
                      {"id": "fc", "type": "Linear", "name": "fc", "params": {"out_features": "$width",
                                                                            "bias": "$bias"}},
                      {"id": "f", "type": "Formula", "name": "f", "params": {"expression": "$act"}},
                      {"id": "y", "type": "Output", "name": "y", "params": {}}],
            "edges": [{"from": ["x", "out"], "to": ["fc", "in"]}, {"from": ["fc", "out"], "to": ["f", "x"]},
                      {"from": ["f", "out"], "to": ["y", "in"]}]}},
        "nodes": [{"id": "image", "type": "Input", "name": "image", "params": {"shape": [8]},
                   "ui": {"x": 0, "y": 0, "collapsed": False, "color": [1, 2, 3]}},
                  {"id": "unit", "type": "Block:Unit", "name": "unit", "params": {"width": 8, "repeat": 2}},
                  {"id": "out", "type": "Output", "name": "out", "params": {}}],
        "edges": [{"from": ["image", "out"], "to": ["unit", "x"]}, {"from": ["unit", "y"], "to": ["out", "in"]}],
        "training": {"epochs": 2, "optimizer": {"name": "adam", "lr": 0.001}},
    }


EXAMPLES = [json.loads(p.read_text(encoding="utf-8")) for p in example_paths()]
BASES = EXAMPLES + [blocks_document()] * len(EXAMPLES)  # half the cases start from the file with blocks

leaf = (st.none() | st.booleans() | st.integers(-2, 70) | st.sampled_from([10**400, -(2**63), 2**31, 1e308, -0.0])
        | st.floats(-1e3, 1e3, allow_nan=False) | st.text(max_size=4)
        | st.sampled_from(["in", "out", "x", "y", "$width", "$nope", "Linear", "Block:Unit", "Formula", "int",
                           "float", "bool", "str", "repeat", "relu(x)", "x*" + "9" * 400, "", "Block:", "\ud800"]))
value = st.recursive(leaf, lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.sampled_from(["name", "kind", "default", "id", "type", "params", "x"])
                                       | st.text(max_size=3), inner, max_size=3), max_leaves=6)
KEYS = st.sampled_from(["name", "kind", "default", "minimum", "maximum", "doc", "inputs", "outputs", "params",
                        "nodes", "edges", "blocks", "ui", "id", "type", "from", "to", "training", "version"])


def _swap_type(old, draw):
    """The same content in another JSON type."""
    choices = [str(old), [old], {"v": old}, None, bool(old) if not isinstance(old, (dict, list)) else True]
    if isinstance(old, (int, float)) and not isinstance(old, bool):
        small = abs(old) < 10**18
        choices += [old / 2 + 0.25 if small else 0.5, -old, int(old) if small else 0, old * 10**6 if small else old]
    if isinstance(old, str):
        choices += [len(old), old * 2, old.upper()]
    if isinstance(old, list):
        choices += [{str(k): v for k, v in enumerate(old)}, old[:1], old[::-1]]
    if isinstance(old, dict):
        choices += [list(old.values()), list(old.items()), list(old)]
    return draw(st.sampled_from(choices))


def _slots(data):
    """Every (container, key) of the document: each value is as likely to be mutated as any other."""
    stack = [data]
    while stack:
        container = stack.pop()
        for key in list(container) if isinstance(container, dict) else range(len(container)):
            yield container, key
            if isinstance(container[key], (dict, list)):
                stack.append(container[key])


@st.composite
def mutated(draw):
    data = copy.deepcopy(draw(st.sampled_from(BASES)))
    for _ in range(draw(st.integers(1, 3))):
        target, key = draw(st.sampled_from(list(_slots(data))))
        action = draw(st.sampled_from(["replace", "swap", "swap", "delete", "insert", "rename", "duplicate"]))
        if action == "replace":
            target[key] = draw(value)
        elif action == "swap":
            target[key] = _swap_type(target[key], draw)
        elif action == "delete":
            del target[key]
        elif action == "insert" and isinstance(target, dict):
            target[draw(KEYS)] = draw(value)
        elif action == "insert":
            target.insert(key, draw(value))
        elif action == "rename" and isinstance(target, dict):
            target[draw(KEYS | st.text(max_size=3))] = target.pop(key)
        elif isinstance(target, list):
            target.append(copy.deepcopy(target[key]))
    return data


def _bad_default():
    data = blocks_document()
    data["blocks"]["Unit"]["params"][2]["default"] = 3  # a bool param whose default is a number
    return data


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mutated())
@example(_bad_default())
def test_a_mutated_file_loads_or_raises_only_the_file_error_and_what_loads_saves_the_same(data):
    text = json.dumps(data)
    try:
        graph = loads_graph(text, path="fuzzed.llgraph.json")
    except GraphFileError as exc:
        assert str(exc).startswith("fuzzed.llgraph.json: ")
        return
    saved = dumps_graph(graph)
    again = loads_graph(saved)
    assert dumps_graph(again) == saved
    analyze(again)


# ---------------------------------------------------------------- item 2: block param records
@pytest.mark.parametrize("record, says", [
    ({"name": "k", "kind": "bool", "default": 3}, "expected true or false, got 3"),
    ({"name": "k", "kind": "int", "default": 0, "minimum": 1}, "must be at least 1"),
    ({"name": "k", "kind": "int", "default": 10**400}, "must be at most"),
    ({"name": "k", "kind": "float", "default": 10**400}, "far too large"),
    ({"name": "k", "kind": "str", "default": ["a"]}, "expected text"),
    ({"name": "k", "kind": "int", "default": 1, "minimum": "one"}, "minimum"),
    ({"name": "k", "kind": "float", "default": 1.0, "maximum": [2]}, "maximum"),
    ({"name": "k", "kind": "int"}, "a value is required"),
])
def test_a_bad_block_param_record_is_the_file_error_naming_block_and_param(record, says):
    data = blocks_document()
    data["blocks"]["Unit"]["params"].append(record)
    with pytest.raises(GraphFileError) as caught:
        loads_graph(json.dumps(data), path="net.llgraph.json")
    text = str(caught.value)
    assert text.startswith("net.llgraph.json: blocks.Unit.params[4]: ") and "block param 'k'" in text
    assert says in text


def test_the_cli_check_says_error_with_the_file_and_no_traceback(tmp_path, capsys):
    from layerloom.cli.main import main

    path = tmp_path / "net.llgraph.json"
    path.write_text(json.dumps(_bad_default()), encoding="utf-8")
    assert main(["check", str(path)]) == 2
    out = capsys.readouterr()
    assert "Traceback" not in out.err and str(path) in out.err and "block param 'bias'" in out.err


# ---------------------------------------------------------------- item 8: not regular files
def _without_blocking(fifo, read):
    """``read()``'s exception. A reader blocked on ``fifo`` (opening a FIFO waits for a writer) is freed
    by opening the other end, and the test fails instead of hanging."""
    outcome = []

    def run():
        try:
            read()
            outcome.append(None)
        except Exception as exc:  # noqa: BLE001 - handed to the test
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(30)
    if thread.is_alive():
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(30)
        pytest.fail(f"reading {fifo} blocked until a writer opened it")
    return outcome[0]


@pytest.mark.parametrize("kind", ["fifo", "folder", "device"])
def test_a_path_that_is_not_a_regular_file_is_refused_before_it_is_read(tmp_path, kind):
    if kind == "fifo":
        path = tmp_path / "pipe.llgraph.json"
        os.mkfifo(path)
        error = _without_blocking(path, lambda: load_graph(path))
    else:
        path = tmp_path / "folder.llgraph.json" if kind == "folder" else "/dev/zero"
        if kind == "folder":
            path.mkdir()
        error = _without_blocking(path, lambda: load_graph(path))
    assert isinstance(error, GraphFileError)
    assert str(error).startswith(f"{path}: cannot read the file: not a regular file")


def test_a_block_library_that_is_a_fifo_is_refused_too(tmp_path):
    from layerloom.files.block_library import load_block_library

    path = tmp_path / "pipe.llblocks.json"
    os.mkfifo(path)
    error = _without_blocking(path, lambda: load_block_library(path))
    assert isinstance(error, GraphFileError) and "cannot read the block library: not a regular file" in str(error)


def test_the_cli_refuses_a_fifo_at_once(tmp_path, capsys):
    from layerloom.cli.main import main

    path = tmp_path / "pipe.llgraph.json"
    os.mkfifo(path)
    codes = []
    _without_blocking(path, lambda: codes.append(main(["check", str(path)])))
    assert codes == [2] and "not a regular file (a named pipe)" in capsys.readouterr().err


# ---------------------------------------------------------------- item 10: large values
def _big_ui_document(size: int) -> dict:
    """digits_mlp whose first node's ``ui`` holds nested lists of about ``size`` numbers (a plugin's data,
    a pasted thing), plus a long text."""
    data = json.loads(example_paths()[0].read_text(encoding="utf-8"))
    leaves = [[i, [i + 0.5, [i % 7, "n"]]] for i in range(size // 3)]
    data["nodes"][0]["ui"] = {"x": 10, "y": 20, "blob": leaves, "note": "z" * size}
    return data


def test_a_large_ui_value_saves_compactly_and_reopens(tmp_path):
    data = _big_ui_document(30_000)
    compact = json.dumps(data, separators=(",", ":"))
    graph = loads_graph(compact)
    path = save_graph(graph, tmp_path / "big.llgraph.json")
    saved = path.read_text(encoding="utf-8")
    assert len(saved) < 1.2 * len(compact)  # it was 6x, each nested list indented on its own lines
    assert load_graph(path).node(data["nodes"][0]["id"]).ui == data["nodes"][0]["ui"]
    small = dumps_graph(loads_graph(json.dumps(BASES[0])))
    assert small == example_paths()[0].read_text(encoding="utf-8")  # ordinary files keep their readable form


def test_saving_encodes_each_value_a_bounded_number_of_times(monkeypatch):
    """Linear: a deeply nested value is not encoded again at each of its levels (it was: a 10 MB tree
    took 24 s and became 46 MB)."""
    encoded = []
    real = json.JSONEncoder.encode

    def counting(self, value):
        text = real(self, value)
        encoded.append(len(text))
        return text

    data = _big_ui_document(300)

    def tree(depth):
        return [tree(depth - 1), tree(depth - 1)] if depth else [1, 2.5]

    data["nodes"][0]["ui"]["tree"] = tree(14)
    graph = loads_graph(json.dumps(data))
    monkeypatch.setattr(json.JSONEncoder, "encode", counting)
    text = dumps_graph(graph)
    monkeypatch.undo()
    assert json.loads(text)["nodes"][0]["ui"]["tree"] == data["nodes"][0]["ui"]["tree"]
    assert sum(encoded) < 2 * len(text)  # it was 12x: the tree encoded once per level


def test_a_graph_too_large_to_reopen_is_not_saved(tmp_path, monkeypatch):
    import layerloom.files.graphfile as graphfile

    monkeypatch.setattr(graphfile, "MAX_FILE_BYTES", 100_000)
    graph = loads_graph(json.dumps(_big_ui_document(60_000)))
    path = tmp_path / "big.llgraph.json"
    with pytest.raises(GraphFileError, match=r"larger than .* LayerLoom opens.*'image'.*ui") as caught:
        save_graph(graph, path)
    assert str(caught.value).startswith(str(path))
    assert not path.exists()


def test_a_graph_just_over_the_limit_when_pretty_is_saved_compact_and_reopens(tmp_path, monkeypatch):
    import layerloom.files.graphfile as graphfile

    graph = loads_graph(json.dumps(_big_ui_document(3_000)))
    for i in range(60):
        graph.add_node("ReLU", f"extra{i}", node_id=f"extra{i}")
    pretty = len(dumps_graph(graph).encode("utf-8"))
    compact = len(json.dumps(json.loads(dumps_graph(graph)), ensure_ascii=False, separators=(",", ":")))
    assert compact < pretty
    monkeypatch.setattr(graphfile, "MAX_FILE_BYTES", (pretty + compact) // 2)
    path = save_graph(graph, tmp_path / "g.llgraph.json")
    assert path.stat().st_size == compact
    assert dumps_graph(load_graph(path)) == dumps_graph(graph)


@pytest.mark.parametrize("value, says", [
    ((1, 2), "tuple"), (float("nan"), "not finite"), ({1: "a"}, "key that is not text"), (object(), "object"),
    (b"bytes", "bytes"),
])
def test_a_graph_stored_elsewhere_holding_what_json_cannot_is_the_file_error(value, says):
    """``graph_from_dict`` reads graphs stored in checkpoints, which can hold any Python value."""
    from layerloom import graph_from_dict

    data = blocks_document()
    data["nodes"][1]["params"]["width"] = value
    with pytest.raises(GraphFileError, match=says):
        graph_from_dict(data, path="run/best.pt")
