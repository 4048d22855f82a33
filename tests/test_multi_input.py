"""A graph with two Inputs (a Concat network) trains from data shaped like it: NPZ arrays named after
the Input and Target nodes, CSV column groups; the run folder, a resume and the errors that name the
node whose data is missing or misshapen."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import add, chain

from layerloom import Graph
from layerloom.data import load_dataset
from layerloom.data.base import DataLayout, DatasetError
from layerloom.data.columns import groups_text
from layerloom.training import Finished, TrainingConfig, TrainingSession
from layerloom.training.feeds import data_layout
from layerloom.training.plan import SetupError, plan_training

N = 240


def two_input_graph(meta_shape=(2,), targets: int = 1) -> Graph:
    """``signal`` [4] and ``meta`` [2] joined by a Concat into a 3-class classifier (and, with
    ``targets=2``, a regression head on a second Target ``level``)."""
    g = Graph(name="two inputs")
    signal = add(g, "Input", "signal", shape=[4])
    meta = add(g, "Input", "meta", shape=list(meta_shape))
    cat = add(g, "Concat", "cat")
    g.connect(signal.id, "out", cat.id, "in1")
    g.connect(meta.id, "out", cat.id, "in2")
    fc1 = add(g, "Linear", "fc1", out_features=16)
    chain(g, cat, fc1, add(g, "ReLU", "relu"), add(g, "Linear", "fc2", out_features=3), add(g, "Output", "logits"))
    add(g, "Target", "label")
    add(g, "CrossEntropyLoss", "loss")
    g.connect("fc2", "out", "loss", "pred")
    g.connect("label", "out", "loss", "target")
    if targets == 2:
        chain(g, fc1, add(g, "Linear", "level_head", out_features=1))
        add(g, "Target", "level", shape=[1], dtype="float32")
        add(g, "MSELoss", "level_loss")
        g.connect("level_head", "out", "level_loss", "pred")
        g.connect("level", "out", "level_loss", "target")
    return g


def arrays(seed: int = 0) -> dict[str, np.ndarray]:
    """Labels that need both inputs: the class is the sign pattern of signal[0] + meta[0] and meta[1]."""
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=(N, 4)).astype(np.float32)
    meta = rng.normal(size=(N, 2)).astype(np.float32) * 10 + 50  # another scale: standardized on its own
    a, b = signal[:, 0] + (meta[:, 0] - 50) / 10, (meta[:, 1] - 50) / 10
    label = np.where(a > 0, 0, np.where(b > 0, 1, 2)).astype(np.int64)
    return {"signal": signal, "meta": meta, "label": label, "level": (a + b)[:, None].astype(np.float32)}


def config(path, **changes) -> TrainingConfig:
    dataset = {"path": str(path), "val_split": 0.25, **changes.pop("dataset", {})}
    return TrainingConfig(epochs=3, batch_size=32, device="cpu", optimizer={"lr": 0.02}, dataset=dataset).replace(
        **changes)


@pytest.fixture(scope="module")
def npz(tmp_path_factory):
    path = tmp_path_factory.mktemp("npz") / "two.npz"
    np.savez(path, **arrays())
    return path


@pytest.fixture(scope="module")
def npz_run(npz, tmp_path_factory):
    """Two epochs of the two-input graph from the NPZ, with a run folder."""
    root = tmp_path_factory.mktemp("runs")
    session = TrainingSession(two_input_graph(), config(npz, epochs=2), run_root=root)
    result = session.run()
    return result, session


def test_npz_arrays_named_after_the_inputs_train_and_the_loss_goes_down(npz_run):
    result, session = npz_run
    assert isinstance(result, Finished), result
    history = session.trainer.history
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert history[-1]["val_accuracy"] > 0.5
    plan = session.plan
    assert [a.name for a in plan.dataset.input_arrays()] == ["signal", "meta"]
    # each Input standardized on its own: meta's mean near 50 is taken out
    assert abs(float(np.mean(plan.dataset.extra_inputs[0].parts["train"]))) < 0.2
    record = json.loads((session.trainer.folder.path / "config.json").read_text())
    assert [i["name"] for i in record["dataset"]["inputs"]] == ["signal", "meta"]
    assert "signal [4], meta [2]" in record["dataset"]["summary"]


def test_a_two_input_run_resumes_from_its_run_folder(npz_run):
    _, first = npz_run
    run_dir = first.trainer.folder.path
    resumed = TrainingSession(None, TrainingConfig(epochs=3), resume=run_dir)
    result = resumed.run()
    assert isinstance(result, Finished), result
    assert [row["epoch"] for row in resumed.trainer.history] == [1, 2, 3]


def test_csv_column_groups_feed_each_input(tmp_path):
    data = arrays(1)
    path = tmp_path / "table.csv"
    header = "s0,s1,s2,s3,age,height,label"
    rows = [",".join(f"{v:.5f}" for v in list(s) + list(m)) + f",{int(y)}"
            for s, m, y in zip(data["signal"], data["meta"], data["label"])]
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    groups = {"signal": "0:4", "meta": ["age", "height"]}
    session = TrainingSession(two_input_graph(), config(path, dataset={"inputs": groups}))
    result = session.run()
    assert isinstance(result, Finished), result
    history = session.trainer.history
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    np.testing.assert_allclose(load_dataset({"path": str(path), "inputs": groups, "val_split": 0}).extra_inputs[0]
                               .parts["train"], data["meta"], atol=1e-4)
    # the text forms a form field takes (and shows) are the same setting
    for text in ("signal = 0:4; meta = age, height", str(groups), groups_text(groups)):
        assert TrainingConfig.from_dict({"dataset": {"inputs": text}}).dataset["inputs"] == groups


def test_csv_without_column_groups_says_what_a_two_input_graph_needs(tmp_path):
    path = tmp_path / "table.csv"
    path.write_text("a,b,c,d,e,f,label\n" + "\n".join("1,2,3,4,5,6,0" if i % 2 else "2,1,3,4,5,6,1"
                                                      for i in range(20)) + "\n")
    with pytest.raises(SetupError) as caught:
        plan_training(two_input_graph(), config(path))
    problem = caught.value.problems[0]
    assert problem.node_id == "meta" and "training.dataset.inputs" in problem.message
    bad = config(path, dataset={"inputs": {"signal": "0:4", "meta": ["age"]}})
    with pytest.raises(SetupError, match="no column named 'age'"):
        plan_training(two_input_graph(), bad)


def test_a_missing_or_misshapen_array_names_its_input(tmp_path, npz):
    data = arrays()
    missing = tmp_path / "missing.npz"
    np.savez(missing, signal=data["signal"], label=data["label"])
    with pytest.raises(SetupError) as caught:
        plan_training(two_input_graph(), config(missing))
    [problem] = caught.value.problems
    assert problem.node_id == "meta" and "gets no data" in problem.message and "'signal'" in problem.message
    with pytest.raises(SetupError) as caught:
        plan_training(two_input_graph(meta_shape=(3,)), config(npz))
    [problem] = caught.value.problems
    assert problem.node_id == "meta" and problem.param == "shape" and "array 'meta'" in problem.message


def test_a_split_given_in_the_file_needs_every_nodes_array(tmp_path):
    data = arrays()
    path = tmp_path / "splits.npz"
    np.savez(path, **data, signal_val=data["signal"][:10], label_val=data["label"][:10])
    with pytest.raises(DatasetError, match="'meta_val' is missing"):
        load_dataset({"path": str(path)}, layout=data_layout(two_input_graph()))
    np.savez(path, **data, **{f"{k}_val": v[:10] for k, v in data.items()})
    ds = load_dataset({"path": str(path)}, layout=DataLayout((("signal", "signal"), ("meta", "meta")),
                                                              (("label", "label"),)))
    assert (ds.num_train, ds.num_val) == (N, 10) and ds.extra_inputs[0].parts["val"].shape == (10, 2)


def test_a_second_target_gets_its_own_array(tmp_path):
    path = tmp_path / "two_targets.npz"
    np.savez(path, **arrays())
    session = TrainingSession(two_input_graph(targets=2), config(path, epochs=2))
    result = session.run()
    assert isinstance(result, Finished), result
    plan = session.plan
    assert [t.node_id for t in plan.compiled.targets] == ["label", "level"] and plan.label_index == 0
    assert plan.dataset.extra_targets[0].parts["train"].dtype == np.float32
    assert "val_accuracy" in session.trainer.history[-1]


def test_a_csv_column_named_after_a_second_target_feeds_it(tmp_path):
    data = arrays(3)
    path = tmp_path / "two_targets.csv"
    rows = [",".join(f"{v:.5f}" for v in [*s, *m, lv[0]]) + f",{int(y)}"
            for s, m, lv, y in zip(data["signal"], data["meta"], data["level"], data["label"])]
    path.write_text("s0,s1,s2,s3,age,height,level,label\n" + "\n".join(rows) + "\n")
    groups = {"signal": "0:4", "meta": ["age", "height"]}
    plan = plan_training(two_input_graph(targets=2), config(path, dataset={"inputs": groups, "val_split": 0}))
    assert plan.dataset.target_name == "label" and plan.label_index == 0
    np.testing.assert_allclose(plan.dataset.extra_targets[0].parts["train"], data["level"], atol=1e-4)
    assert plan.dataset.extra_inputs[0].feature_shape == (2,)


def test_an_image_folder_with_a_side_table_feeds_a_second_input(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(2)
    lines = ["filename,age,height,level"]
    for cls in ("a", "b"):
        (tmp_path / "pics" / cls).mkdir(parents=True)
        for i in range(6):
            Image.fromarray(rng.integers(0, 256, (4, 4), dtype=np.uint8)).save(tmp_path / "pics" / cls / f"{i}.png")
            lines.append(f"{cls}/{i}.png,{20 + i},{1.5 + i / 10},{i / 2}")
    (tmp_path / "side.csv").write_text("\n".join(lines) + "\n")
    g = Graph(name="scan and age")
    chain(g, add(g, "Input", "scan", shape=[1, 4, 4]), add(g, "Flatten", "flat"))
    add(g, "Input", "meta", shape=[2])
    add(g, "Concat", "cat")
    g.connect("flat", "out", "cat", "in1")
    g.connect("meta", "out", "cat", "in2")
    chain(g, g.node("cat"), add(g, "Linear", "fc", out_features=2), add(g, "Output", "logits"))
    add(g, "Target", "label")
    add(g, "CrossEntropyLoss", "loss")
    g.connect("fc", "out", "loss", "pred")
    g.connect("label", "out", "loss", "target")
    settings = {"path": str(tmp_path / "pics"), "side_table": "side.csv", "inputs": {"meta": ["age", "height"]},
                "val_split": 0}
    plan = plan_training(g, TrainingConfig(dataset=settings, device="cpu"), base_dir=tmp_path)
    assert [a.name for a in plan.dataset.input_arrays()] == ["scan", "meta"]
    assert plan.dataset.extra_inputs[0].scaling["axis"] == "feature" and plan.dataset.scaling["mode"] == "minmax"
    # each image gets its own row's values
    raw = load_dataset(settings, base_dir=tmp_path)
    assert sorted(raw.extra_inputs[0].parts["train"][:, 0].tolist()) == sorted([20.0 + i for i in range(6)] * 2)
    np.testing.assert_array_equal(raw.extra_inputs[0].parts["train"][:6, 0], [20, 21, 22, 23, 24, 25])
    (tmp_path / "side.csv").write_text("\n".join(lines[:-1]) + "\n")
    with pytest.raises(DatasetError, match="no row for the image 'b/5.png'"):
        load_dataset(settings, base_dir=tmp_path)


def test_an_npz_without_any_target_array_names_the_target(tmp_path):
    path = tmp_path / "no_labels.npz"
    data = arrays()
    np.savez(path, signal=data["signal"], meta=data["meta"], labels=data["label"])
    with pytest.raises(DatasetError, match=r"no array for the Targets \('label'\).*found: labels, meta, signal"):
        load_dataset({"path": str(path)}, layout=data_layout(two_input_graph()))
