"""Graph files: JSON data only, versioned, atomic, round-trip exact, and never a stray exception."""

from __future__ import annotations

import copy
import json
import os
import stat

import pytest
import torch
from helpers import add, mlp_graph
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from layerloom import (Graph, GraphFileError, UnsupportedVersionError, analyze, compile_graph, dumps_graph,
                     graph_from_dict,
                     graph_to_dict, load_graph, loads_graph, save_graph)
from layerloom.files.graphfile import FORMAT, VERSION
from layerloom.files.resources import example_paths


def test_round_trip_build_compile_run_save_load_compile_run(tmp_path):
    g = mlp_graph()
    g.move_node("fc1", 120, -40)
    g.training = {"epochs": 5, "optimizer": {"name": "adam", "lr": 0.001}}
    x = torch.randn(6, 64)
    before = compile_graph(g, seed=7).model(x)
    path = save_graph(g, tmp_path / "net.llgraph.json")
    loaded = load_graph(path)
    after = compile_graph(loaded, seed=7).model(x)
    assert torch.equal(before, after)
    assert dumps_graph(loaded) == dumps_graph(g)
    assert loaded.node("fc1").position == (120.0, -40.0)
    assert loaded.training == g.training
    assert [n.id for n in loaded] == [n.id for n in g] and loaded.edges == g.edges


def test_examples_are_canonical_files():
    for path in example_paths():
        text = path.read_text()
        assert dumps_graph(loads_graph(text)) == text, f"{path.name} is not in canonical form"
        assert analyze(loads_graph(text)).problems == [], path.name


def test_file_is_plain_readable_json():
    data = json.loads(dumps_graph(mlp_graph()))
    assert data["format"] == FORMAT and data["version"] == VERSION
    fc1 = next(n for n in data["nodes"] if n["id"] == "fc1")
    assert fc1 == {"id": "fc1", "type": "Linear", "name": "fc1",
                   "params": {"out_features": 32, "bias": True, "init": "default"}}
    assert {"from": ["image", "out"], "to": ["fc1", "in"]} in data["edges"]


def test_newer_version_is_rejected_with_a_dedicated_error():
    data = graph_to_dict(mlp_graph())
    data["version"] = VERSION + 1
    with pytest.raises(UnsupportedVersionError, match="newer LayerLoom") as info:
        loads_graph(json.dumps(data), path="net.json")
    assert info.value.version == VERSION + 1 and info.value.location == "version"
    for bad in ("1", 0, None, True, 1.5):
        data["version"] = bad
        with pytest.raises(UnsupportedVersionError):
            loads_graph(json.dumps(data))


@pytest.mark.parametrize("text,message", [
    ("[]", "JSON object at the top level"),
    ('{"version": 1, "nodes": []}', 'not a LayerLoom graph file'),
    ('{"format": "keras", "version": 1, "nodes": []}', "unknown format 'keras'"),
    (f'{{"format": "{FORMAT}", "version": 1}}', 'missing "nodes"'),
    (f'{{"format": "{FORMAT}", "version": 1, "nodes": [{{"id": "a b", "type": "ReLU"}}]}}', "nodes[0].id"),
    (f'{{"format": "{FORMAT}", "version": 1, "nodes": [{{"id": "a", "type": "ReLU"}}, {{"id": "a", "type": "ReLU"}}]}}',
     "duplicate node id 'a'"),
    (f'{{"format": "{FORMAT}", "version": 1, "nodes": [{{"id": "a", "type": 3}}]}}', "nodes[0].type"),
    (f'{{"format": "{FORMAT}", "version": 1, "nodes": [{{"id": "a", "type": "ReLU", "params": [1]}}]}}',
     "nodes[0].params: must be an object, found a list"),
    (f'{{"format": "{FORMAT}", "version": 1, "nodes": [], "edges": [{{"from": ["x", "out"], "to": ["y", "in"]}}]}}',
     "edges[0].from: no node with id 'x'"),
    (f'{{"format": "{FORMAT}", "version": 1, "nodes": [], "edges": [{{"from": "x.out"}}]}}', "edges[0].from"),
    (f'{{"format": "{FORMAT}", "version": 1, "nodes": [], "training": 3}}', "training: must be an object"),
    (f'{{"format": "{FORMAT}", "version": 1, "name": 5, "nodes": []}}', "name: must be text"),
    ('{"format": "layerloom-graph", "version": 1, "nodes": [NaN]}', "NaN is not a valid JSON number"),
    ('{"format": "layerloom-graph",\n"version": 1,\n"nodes": [}', "line 3, column 11"),
    ("[" * 100000, "nested too deeply"),
])
def test_malformed_files_get_a_located_message(text, message):
    with pytest.raises(GraphFileError) as info:
        loads_graph(text, path="net.json")
    assert message in str(info.value)
    assert str(info.value).startswith("net.json: ")


def test_unreadable_files(tmp_path):
    with pytest.raises(GraphFileError, match="cannot read the file"):
        load_graph(tmp_path / "missing.llgraph.json")
    (tmp_path / "bin.json").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(GraphFileError, match="not UTF-8"):
        load_graph(tmp_path / "bin.json")
    with pytest.raises(GraphFileError, match="cannot read the file"):
        load_graph(tmp_path)  # a folder


def test_renamed_types_load_through_aliases():
    data = graph_to_dict(mlp_graph())
    for node in data["nodes"]:
        if node["type"] == "Linear":
            node["type"] = "Dense"
    g = loads_graph(json.dumps(data))
    assert g.node("fc1").type_id == "Linear"
    assert analyze(g).ok


def test_network_mistakes_still_load_and_keep_every_value():
    data = graph_to_dict(mlp_graph())
    data["nodes"].append({"id": "m", "type": "FancyPluginLayer", "name": "m", "params": {"k": [1, {"a": None}]}})
    data["nodes"][1]["params"]["out_features"] = "lots"
    data["future_key"] = {"keep": True}
    data["nodes"][1]["ui"] = {"x": 1, "colour": "#ff0000"}
    g = loads_graph(json.dumps(data))
    assert not analyze(g).ok
    again = json.loads(dumps_graph(g))
    assert again["future_key"] == {"keep": True}
    assert again["nodes"] == data["nodes"]  # nothing lost or normalised away


def test_save_is_atomic_when_the_rename_fails(tmp_path, monkeypatch):
    path = tmp_path / "net.llgraph.json"
    save_graph(mlp_graph(), path)
    original = path.read_text()

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    g = mlp_graph()
    g.rename_node("fc1", "changed")
    with pytest.raises(GraphFileError, match="No space left"):
        save_graph(g, path)
    assert path.read_text() == original
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.llgraph.json"]  # no temp file left


def test_save_is_atomic_when_writing_fails(tmp_path, monkeypatch):
    path = tmp_path / "net.llgraph.json"
    save_graph(mlp_graph(), path)
    original = path.read_text()
    monkeypatch.setattr(os, "fsync", lambda fd: (_ for _ in ()).throw(OSError(5, "I/O error")))
    with pytest.raises(GraphFileError, match="I/O error"):
        save_graph(Graph(), path)
    assert path.read_text() == original
    assert len(list(tmp_path.iterdir())) == 1


def test_save_keeps_file_permissions(tmp_path):
    path = tmp_path / "net.llgraph.json"
    save_graph(mlp_graph(), path)
    os.chmod(path, 0o640)
    save_graph(mlp_graph(), path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640


def test_values_json_cannot_hold_are_refused_on_save(tmp_path):
    g = mlp_graph()
    g.set_param("fc1", "out_features", float("nan"), check=False)
    with pytest.raises(GraphFileError, match="cannot store"):
        save_graph(g, tmp_path / "x.json")
    assert not (tmp_path / "x.json").exists()


def test_ui_block_is_ignored_by_the_runtime():
    plain = mlp_graph()
    decorated = mlp_graph()
    decorated.set_ui("fc1", "collapsed", True)
    decorated.set_ui("fc1", "color", [1, 2, 3])
    x = torch.randn(2, 64)
    assert torch.equal(compile_graph(plain, seed=0).model(x), compile_graph(decorated, seed=0).model(x))


# ------------------------------------------------------------------------------- fuzzing
json_leaf = (st.none() | st.booleans() | st.integers(-3, 10**6) | st.floats(-1e3, 1e3)
             | st.text(max_size=6) | st.sampled_from(["in", "out", "fc1", "relu1", "Linear", "Add", "same", "N"]))
json_value = st.recursive(json_leaf, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c,
                                                                                            max_size=3), max_leaves=8)
BASES = [json.loads(p.read_text()) for p in example_paths()]


def _containers(value, path=()):
    yield path, value
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _containers(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _containers(v, path + (i,))


@st.composite
def mutated_files(draw):
    data = copy.deepcopy(draw(st.sampled_from(BASES)))
    for _ in range(draw(st.integers(1, 4))):
        spots = [(p, v) for p, v in _containers(data) if isinstance(v, (dict, list)) and v]
        path, target = draw(st.sampled_from(spots))
        key = draw(st.sampled_from(list(target.keys()) if isinstance(target, dict) else range(len(target))))
        action = draw(st.sampled_from(["replace", "delete", "insert", "duplicate"]))
        if action == "replace":
            target[key] = draw(json_value)
        elif action == "delete":
            del target[key]
        elif action == "insert" and isinstance(target, dict):
            target[draw(st.text(max_size=6))] = draw(json_value)
        elif action == "insert":
            target.insert(key, draw(json_value))
        elif isinstance(target, list):
            target.append(copy.deepcopy(target[key]))
    return data


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_files())
def test_mutated_files_load_or_raise_our_error_and_analysis_never_crashes(data):
    try:
        graph = loads_graph(json.dumps(data))
    except GraphFileError as exc:
        assert str(exc)
        return
    analysis = analyze(graph)  # must not raise, whatever the params and wiring
    for problem in analysis.problems:
        assert problem.message and problem.describe()
    assert loads_graph(dumps_graph(graph)) is not None  # what loaded also saves and reloads


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([p.read_text() for p in example_paths()]), st.data())
def test_corrupted_text_loads_or_raises_our_error(text, data):
    cut = data.draw(st.integers(0, len(text)))
    junk = data.draw(st.text(max_size=5))
    mutated = text[:cut] + junk + text[cut + data.draw(st.integers(0, 5)):]
    try:
        graph = loads_graph(mutated)
    except GraphFileError:
        return
    analyze(graph)


# ---------------------------------------------------------------- regressions from review
@pytest.mark.parametrize("text,message", [
    ('{"format": "layerloom-graph", "version": 1, "nodes": [], "x": 1e999}', "too large"),
    ('{"format": "layerloom-graph", "version": 1, "nodes": [], "nodes": []}', "'nodes' appears twice"),
])
def test_values_that_could_not_be_saved_again_are_refused_on_read(text, message):
    with pytest.raises(GraphFileError, match=message):
        loads_graph(text)


def test_deep_nesting_is_refused_with_our_error():
    deep = "[" * 40 + "]" * 40
    text = f'{{"format": "layerloom-graph", "version": 1, "nodes": [{{"id": "a", "type": "ReLU", "params": {{"k": {deep}}}}}]}}'
    with pytest.raises(GraphFileError, match="nested more than 32 levels"):
        loads_graph(text)


def test_bom_and_null_optional_keys_are_accepted():
    text = '\ufeff{"format": "layerloom-graph", "version": 1, "name": null, "nodes": [{"id": "a", "type": "ReLU", "name": null, "params": null, "ui": null}]}'
    g = loads_graph(text)
    assert g.name == "untitled" and g.node("a").name == "a" and g.node("a").params == {}


def test_unknown_keys_in_node_and_edge_records_survive_a_save():
    data = graph_to_dict(mlp_graph())
    data["nodes"][0]["comment"] = "from a newer LayerLoom"
    data["edges"][0]["label"] = {"text": "hello"}
    again = json.loads(dumps_graph(loads_graph(json.dumps(data))))
    assert again["nodes"][0]["comment"] == "from a newer LayerLoom"
    assert again["edges"][0]["label"] == {"text": "hello"}
    assert json.loads(dumps_graph(loads_graph(json.dumps(data)).copy())) == again


def test_text_utf8_cannot_hold_is_saved_as_escapes_and_reads_back(tmp_path):
    g = loads_graph('{"format": "layerloom-graph", "version": 1, "name": "bad \\ud800 name", "nodes": []}')
    path = save_graph(g, tmp_path / "g.json")
    assert load_graph(path).name == "bad \ud800 name"
    g2 = mlp_graph()
    g2.rename_node("fc1", "全连接层")
    assert "全连接层" in dumps_graph(g2)  # ordinary non-ASCII text stays readable


def test_special_files_and_bad_paths_are_refused_with_our_error():
    with pytest.raises(GraphFileError, match="not a regular file"):
        load_graph("/dev/zero")
    with pytest.raises(GraphFileError, match="cannot read the file"):
        load_graph("a\0b.json")


def test_documents_are_never_shared_with_the_graph():
    g = mlp_graph()
    data = graph_to_dict(g)
    data["nodes"][1]["params"]["out_features"] = 0
    assert g.node("fc1").params["out_features"] == 32
    source = graph_to_dict(mlp_graph())
    loaded = graph_from_dict(source)
    source["nodes"][0]["params"]["shape"].append(7)
    assert loaded.node("image").params["shape"] == [64]
