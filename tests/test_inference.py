"""Predictor: predictions on raw samples, checked against the torch model run by hand on inputs scaled
by hand (differential), and against the trainer's own validation metrics."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from helpers import add, chain

from layerloom import Graph, load_graph
from layerloom.training.inference import InferenceError, Mistake, Predictor
from layerloom.files.resources import example_path
from layerloom.training import EpochEnd, Finished, TrainingConfig, train


def example(stem: str) -> Graph:
    return load_graph(example_path(stem))


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """The digits MLP trained 3 epochs into a run folder (about 3 s)."""
    graph = example("digits_mlp")
    ends: list[EpochEnd] = []
    config = TrainingConfig.from_graph(graph).replace(epochs=3, device="cpu")
    result, session = train(graph, config, run_root=tmp_path_factory.mktemp("runs"),
                            listeners=(lambda e: ends.append(e) if isinstance(e, EpochEnd) else None,))
    assert isinstance(result, Finished), result
    return SimpleNamespace(graph=graph, session=session, result=result, ends=ends,
                           predictor=Predictor.from_session(session))


def softmax_by_hand(model: torch.nn.Module, raw: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Digits scaled as the dataset says (pixel values 0..16 -> 0..1), the model run directly."""
    x = torch.tensor(raw.reshape((len(raw),) + shape) / 16.0, dtype=torch.float32)
    with torch.no_grad():
        return torch.softmax(model.eval()(x), dim=1).numpy()


def test_probabilities_are_the_softmax_of_the_trained_model(digits):
    predictor = digits.predictor
    samples = predictor.validation_samples(50)
    assert samples.x.shape == (50, 1, 8, 8) and samples.x.max() == 16.0  # raw: the dataset's own units
    expected = softmax_by_hand(digits.session.plan.compiled.model, samples.x, (64,))
    probs = predictor.probabilities(samples.x)
    assert probs.shape == (50, 10)
    np.testing.assert_allclose(probs, expected, atol=1e-6)
    np.testing.assert_allclose(predictor.predict(samples.x[7]).probabilities, expected[7], atol=1e-6)
    assert predictor.trained and predictor.task == "classification" and predictor.classes == tuple("0123456789")


def test_top_k_is_ordered_and_named(digits):
    predictor = digits.predictor
    x = predictor.validation_samples(1).x[0]
    prediction = predictor.predict(x, top_k=4)
    probs = prediction.probabilities
    assert len(prediction.top) == 4
    assert [r.index for r in prediction.top] == list(np.argsort(-probs)[:4])
    assert [r.probability for r in prediction.top] == sorted((r.probability for r in prediction.top), reverse=True)
    assert all(r.name == predictor.classes[r.index] and r.probability == pytest.approx(probs[r.index])
               for r in prediction.top)
    assert prediction.label == int(np.argmax(probs)) and prediction.confidence == pytest.approx(probs.max())
    assert math.isclose(float(probs.sum()), 1.0, rel_tol=1e-5) and prediction.values is None
    assert len(predictor.predict(x, top_k=20).top) == 10


def test_misclassified_are_wrong_sorted_and_match_the_trainers_accuracy(digits):
    predictor = digits.predictor
    mistakes = predictor.misclassified()
    data = predictor.samples()
    assert len(data.y) == 360
    # the trainer measured the same weights on the same split: the error counts agree
    accuracy = digits.ends[-1].metrics["val_accuracy"]
    assert len(mistakes) == round((1 - accuracy) * len(data.y)) > 0
    confidences = [m.confidence for m in mistakes]
    assert confidences == sorted(confidences, reverse=True)
    probs = predictor.probabilities(data.x)
    for m in mistakes:
        assert isinstance(m, Mistake) and m.true != m.predicted
        assert m.true == data.y[m.index] and m.predicted == int(np.argmax(probs[m.index]))
        assert m.confidence == pytest.approx(float(probs[m.index].max()))
        np.testing.assert_array_equal(m.input, data.x[m.index])
    assert [m.index for m in predictor.misclassified(5)] == [m.index for m in mistakes[:5]]


def test_checkpoint_from_the_run_folder_predicts_like_the_session(digits):
    run_dir = digits.result.run_dir
    samples = digits.predictor.validation_samples(30)
    expected = digits.predictor.probabilities(samples.x)  # the session's final weights: last.pt's
    last = Predictor(digits.graph, f"{run_dir}/checkpoints/last.pt")
    np.testing.assert_allclose(last.probabilities(samples.x), expected, atol=1e-6)
    assert last.scaling == {"mode": "minmax", "min": 0.0, "max": 16.0}
    best = Predictor.from_checkpoint(run_dir)  # the folder: its best.pt, and the graph inside it
    assert best.trained and best.classes == tuple("0123456789") and best.input_shape == (64,)
    assert best.probabilities(samples.x).shape == (30, 10)


def test_a_checkpoint_whose_dataset_is_gone_still_predicts(digits, tmp_path):
    from layerloom.training import load_checkpoint

    state = load_checkpoint(f"{digits.result.run_dir}/checkpoints/last.pt")
    state["config"]["dataset"].update(path=str(tmp_path / "gone.csv"))
    predictor = Predictor(digits.graph, state)
    assert not predictor.has_samples and "gone.csv" in predictor.note
    assert predictor.misclassified() == [] and predictor.value_range == (0.0, 16.0)
    samples = digits.predictor.validation_samples(5)
    np.testing.assert_allclose(predictor.probabilities(samples.x), digits.predictor.probabilities(samples.x),
                               atol=1e-6)
    with pytest.raises(InferenceError, match="gone.csv"):
        predictor.samples()


def test_weights_are_copied_not_shared(digits):
    weights = {k: v.clone() for k, v in digits.session.trainer.criterion.state_dict().items()}
    predictor = Predictor(digits.graph, weights)
    x = digits.predictor.validation_samples(3).x
    before = predictor.probabilities(x)
    for tensor in weights.values():
        tensor.zero_()  # a run going on would change its tensors in place
    np.testing.assert_array_equal(predictor.probabilities(x), before)
    predictor.set_weights(weights)  # a new epoch's weights, without planning again
    np.testing.assert_allclose(predictor.probabilities(x), 0.1, atol=1e-7)  # all zero: uniform


def test_an_untrained_predictor_takes_the_trained_weights_later(digits):
    predictor = Predictor(digits.graph)
    x = digits.predictor.validation_samples(10).x
    assert not predictor.trained and not np.allclose(predictor.probabilities(x), digits.predictor.probabilities(x))
    predictor.set_weights(digits.session.trainer.criterion)
    assert predictor.trained
    np.testing.assert_allclose(predictor.probabilities(x), digits.predictor.probabilities(x), atol=1e-6)


def test_sample_shapes_and_a_cnn_input():
    cnn = Predictor(example("digits_cnn"))  # freshly initialised: shapes and scaling are what matter
    assert cnn.input_shape == (1, 8, 8) and cnn.image_shape == (1, 8, 8) and not cnn.trained
    x = cnn.validation_samples(4).x
    expected = softmax_by_hand(cnn.compiled.model, x, (1, 8, 8))
    np.testing.assert_allclose(cnn.probabilities(x), expected, atol=1e-6)
    np.testing.assert_allclose(cnn.predict(x[2].reshape(64)).probabilities, expected[2], atol=1e-6)
    with pytest.raises(InferenceError, match="do not fit the Input"):
        cnn.predict(np.zeros(63))
    with pytest.raises(InferenceError, match="one sample"):
        cnn.predict(x)


def test_regression_gives_values_on_standardized_inputs():
    predictor = Predictor(example("regression_mlp"))
    assert predictor.task == "regression" and not predictor.is_classifier and predictor.classes is None
    from layerloom.data import load_dataset
    raw = load_dataset(TrainingConfig.from_graph(predictor.graph).dataset)
    mean, std = raw.x_train.mean(0), raw.x_train.std(0)  # standardized on the training split
    samples = predictor.validation_samples(6)
    with torch.no_grad():
        expected = predictor.compiled.model(torch.tensor((samples.x - mean) / std, dtype=torch.float32)).numpy()
    np.testing.assert_allclose(predictor.outputs(samples.x), expected, atol=1e-5)
    prediction = predictor.predict(samples.x[0])
    assert prediction.top == () and prediction.probabilities is None
    np.testing.assert_allclose(prediction.values, expected[0], atol=1e-5)
    assert samples.y.shape == (6, 1) and predictor.misclassified() == []
    with pytest.raises(InferenceError, match="values, not class probabilities"):
        predictor.probabilities(samples.x)


def test_the_loss_prediction_is_used_when_the_output_is_already_softmaxed():
    """Output after a Softmax, loss on the logits: probabilities are softmax(logits), not softmax twice.
    The Dropout shows the model runs in eval mode (in training mode it would zero half the features)."""
    g = Graph(name="softmaxed")
    g.training = {"dataset": {"name": "iris"}}
    x, drop, fc, soft, out = (add(g, "Input", "x", shape=[4]), add(g, "Dropout", "drop", p=0.5),
                              add(g, "Linear", "fc", out_features=3), add(g, "Softmax", "soft", dim=1),
                              add(g, "Output", "probs"))
    chain(g, x, drop, fc, soft, out)
    add(g, "Target", "label", shape=[], dtype="int64")
    add(g, "CrossEntropyLoss", "loss")
    g.connect("fc", "out", "loss", "pred")
    g.connect("label", "out", "loss", "target")
    predictor = Predictor(g)
    samples = predictor.validation_samples(5)
    scaled = torch.tensor(predictor.preprocess(samples.x))
    with torch.no_grad():
        expected = torch.softmax(predictor.compiled.model.fc(scaled), 1).numpy()
    np.testing.assert_allclose(predictor.probabilities(samples.x), expected, atol=1e-6)
    assert predictor.classes == ("setosa", "versicolor", "virginica")


def test_binary_heads_give_two_class_probabilities():
    g = Graph(name="moons")
    g.training = {"dataset": {"name": "moons", "samples": 200}}
    x, fc, out = add(g, "Input", "x", shape=[2]), add(g, "Linear", "fc", out_features=1), add(g, "Output", "logit")
    chain(g, x, fc, out)
    add(g, "Target", "label", shape=[1], dtype="float32")
    add(g, "BCEWithLogitsLoss", "loss")
    g.connect("fc", "out", "loss", "pred")
    g.connect("label", "out", "loss", "target")
    predictor = Predictor(g)
    assert predictor.task == "binary"
    samples = predictor.validation_samples(8)
    with torch.no_grad():
        positive = torch.sigmoid(predictor.compiled.model(torch.tensor(predictor.preprocess(samples.x)))).numpy()
    probs = predictor.probabilities(samples.x)
    np.testing.assert_allclose(probs[:, 1:], positive, atol=1e-6)
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-6)
    for m in predictor.misclassified():
        assert m.predicted == int(probs_of(predictor, m.input).argmax()) != m.true


def probs_of(predictor: Predictor, x: np.ndarray) -> np.ndarray:
    return predictor.probabilities(x)[0]
