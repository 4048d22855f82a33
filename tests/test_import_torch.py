"""Open a PyTorch model as a graph (``layerloom.from_module``): the imported graph's compiled module gives the
original model's outputs (differential, on fresh random inputs), exports to ONNX and verifies in onnxruntime,
survives a save and a load, and a compiled graph imports back as the same nodes; what cannot be traced or
mapped is refused, named. The layer table and the TorchModule node: test_import_torch_layers.py; functions
and tensor methods: test_import_torch_calls.py; .py files and the CLI: test_import_torch_file.py."""

from __future__ import annotations

import collections
import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import layerloom
from layerloom import compile_graph, load_graph
from layerloom.catalog.spec import OUTPUT
from layerloom.files.resources import example_paths
from layerloom.importers import ModelImportError
from layerloom.training.start_weights import fit_weights, read_weights_file


# ------------------------------------------------------------------------------------ models
class MLP(nn.Module):
    """The articles' MLP 784-128-64-10."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 128)
        self.fc2 = nn.Linear(128, 64)
        self.fc3 = nn.Linear(64, 10)

    def forward(self, x):
        x = x.view(x.size(0), -1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(4, 8, 3), nn.Hardswish(), nn.AdaptiveAvgPool2d(2))
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(0.25), nn.Linear(32, 10))

    def forward(self, x):
        return F.log_softmax(self.head(self.features(x)), dim=1)


class ResidualBlock(nn.Module):
    def __init__(self, channels=4):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        return F.relu(self.conv2(y) + x) * 0.5


class LSTMish(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(20, 6)
        self.lstm = nn.LSTM(6, 8, batch_first=True, num_layers=2)
        self.gru = nn.GRU(8, 5, batch_first=True, bidirectional=True)
        self.out = nn.Linear(10, 3)

    def forward(self, tokens):
        seq, _ = self.lstm(self.embed(tokens))
        _, h = self.gru(seq)
        return self.out(torch.tanh(torch.cat((h[-2], h[-1]), dim=1)))


class TensorOps(nn.Module):
    """Tensor operations with no node of their own (transpose, permute, interpolate, @, slices, means), run as
    "ONNX operator" nodes, around a bidirectional LSTM."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(4, 6, 3, padding=1)
        self.query = nn.Linear(6, 6)
        self.lstm = nn.LSTM(6, 5, batch_first=True, bidirectional=True)
        self.fc = nn.Linear(10, 2)

    def forward(self, x):
        y = F.interpolate(self.conv(x.transpose(1, 2)), scale_factor=2, mode="linear").permute(0, 2, 1)
        attention = torch.softmax(self.query(y) @ y.transpose(-1, -2) / 6 ** 0.5, dim=-1)
        y = attention @ y + y[:, :, :6] - y.mean(1, keepdim=True) + y.sum(-1, keepdim=True) * 0.1
        out, _ = self.lstm(-y ** 2)
        return self.fc(out[:, -1])


class TextClassifier(nn.Module):
    """Token ids through an nn.TransformerEncoder (two layers and a norm), averaged over time."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(30, 16)
        layer = nn.TransformerEncoderLayer(16, 4, dim_feedforward=32, dropout=0.1, batch_first=True,
                                           activation="gelu")
        self.encoder = nn.TransformerEncoder(layer, num_layers=2, norm=nn.LayerNorm(16), enable_nested_tensor=False)
        self.head = nn.Linear(16, 3)

    def forward(self, tokens):
        return self.head(self.encoder(self.embed(tokens)).mean(dim=1))


def _model(cls):
    torch.manual_seed(0)
    model = cls()
    with torch.no_grad():  # batch norms with statistics of their own, so eval mode is really checked
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
    return model


CASES = {
    "mlp": (MLP, lambda n: torch.randn(n, 1, 28, 28)),
    "cnn": (SmallCNN, lambda n: torch.randn(n, 1, 12, 12)),
    "residual": (ResidualBlock, lambda n: torch.randn(n, 4, 5, 5)),
    "lstm": (LSTMish, lambda n: torch.randint(0, 20, (n, 7))),
    "ops": (TensorOps, lambda n: torch.randn(n, 7, 4)),
    "transformer": (TextClassifier, lambda n: torch.randint(0, 30, (n, 9))),
}


@pytest.fixture(scope="module")
def imported():
    results = {}
    for key, (cls, example) in CASES.items():
        model = _model(cls)
        results[key] = (model, layerloom.from_module(model, example(2)), example)
    return results


def _compiled(result):
    compiled = compile_graph(result.graph, seed=1)
    fit = fit_weights(compiled.model, result.weights, "imported")
    assert fit.complete and not fit.unused, fit.lines()
    return compiled.model.eval()


# ------------------------------------------------------------------------------------ differential
@pytest.mark.parametrize("key", list(CASES))
def test_the_imported_graph_gives_the_models_outputs(imported, key):
    model, result, example = imported[key]
    ours = _compiled(result)
    model.eval()
    inputs = example(5)
    with torch.no_grad():
        torch.testing.assert_close(ours(inputs), model(inputs))


def test_the_mlp_becomes_the_articles_nodes(imported):
    graph = imported["mlp"][1].graph
    types = {node.id: node.type_id for node in graph}
    assert types == {"x": "Input", "view": "Flatten", "fc1": "Linear", "relu": "ReLU", "fc2": "Linear",
                     "relu_1": "ReLU", "fc3": "Linear", "out": "Output"}
    assert graph.node("x").params["shape"] == [1, 28, 28]
    assert [graph.node(n).params["out_features"] for n in ("fc1", "fc2", "fc3")] == [128, 64, 10]
    report = imported["mlp"][1].report
    assert report.ok and report.mapped_to("nn.Linear") == {"Linear": 3}
    assert any("checked" in line for line in report.lines())


def test_cnn_residual_and_lstm_map_to_catalog_nodes(imported):
    cnn = {node.id: node for node in imported["cnn"][1].graph}
    assert cnn["features_1"].type_id == "BatchNorm2d" and cnn["head_1"].params["p"] == 0.25
    assert cnn["features_5"].type_id == "TorchModule" and cnn["features_5"].params["module"] == "Hardswish"
    residual = imported["residual"][1]
    assert [n.type_id for n in residual.graph if n.id == "add"] == ["Add"]
    assert residual.graph.node("conv1").params["bias"] is False
    assert residual.graph.node("mul").params["expression"] == "x * 0.5"
    lstm = imported["lstm"][1].graph
    assert lstm.node("lstm").params["output"] == "sequence" and lstm.node("lstm").params["num_layers"] == 2
    assert lstm.node("gru").params["output"] == "last" and lstm.node("gru").params["bidirectional"] is True
    assert lstm.node("tokens").params["dtype"] == "int64"
    text = imported["transformer"][1].graph
    assert [text.node(n).type_id for n in ("encoder_layers_0", "encoder_layers_1", "encoder_norm")] == [
        "TransformerEncoderLayer", "TransformerEncoderLayer", "LayerNorm"]
    assert text.node("encoder_layers_1").params["activation"] == "gelu"
    ops = imported["ops"][1].report
    assert ops.mapped_to("Tensor.transpose") == {"ONNX operator": 2} and ops.mapped_to("operator.matmul")
    assert ops.mapped_to("F.interpolate") == {"ONNX operator": 1}
    assert ops.mapped_to("operator.getitem") == {"ONNX operator": 2} and ops.mapped_to("operator.pow") == {
        "Formula": 1}


@pytest.mark.parametrize("key", list(CASES))
def test_the_imported_graph_exports_to_onnx_with_the_models_outputs(imported, key):
    """The compiled graph through the ONNX exporter, run in onnxruntime, against the original model."""
    import io
    import warnings

    import onnxruntime as ort

    model, result, example = imported[key]
    ours = _compiled(result)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nn.LSTM's trace warns about a check on its batch sizes
        torch.onnx.export(ours, (example(2),), buffer, input_names=["x"], output_names=["y"], dynamo=False,
                          dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
    session = ort.InferenceSession(buffer.getvalue(), providers=["CPUExecutionProvider"])
    inputs = example(5)
    (got,) = session.run(None, {"x": inputs.numpy()})
    with torch.no_grad():
        torch.testing.assert_close(torch.from_numpy(got), model.eval()(inputs), rtol=1e-4, atol=1e-5)


def test_the_imported_cnn_exports_and_verifies(imported, tmp_path):
    from layerloom.export.onnx_export import export_and_verify
    from layerloom.export.source import Exportable

    result = imported["cnn"][1]
    compiled = compile_graph(result.graph, seed=1)
    fit_weights(compiled.model, result.weights)
    compiled.model.eval()
    done = export_and_verify(Exportable(result.graph, compiled, trained=True), tmp_path / "m.onnx",
                             exporter="torchscript", repeats=1)
    assert done.ok, done.report.describe()


def test_saved_graph_starts_from_the_imported_weights(imported, tmp_path):
    model, result, example = imported["cnn"]
    graph_path, weights_path = result.save(tmp_path / "cnn.llgraph.json")
    assert json.loads(graph_path.read_text())["training"]["weights"] == "cnn.weights.pt"
    graph = load_graph(graph_path)
    compiled = compile_graph(graph, seed=3)
    fit_weights(compiled.model, read_weights_file(weights_path))
    inputs = example(3)
    with torch.no_grad():
        torch.testing.assert_close(compiled.model.eval()(inputs), model.eval()(inputs))


class Details(nn.Module):
    """What real forward()s do: an argument with a default, size arithmetic in a view, a global average pool
    written as a mean, squeeze/unsqueeze, one layer called twice, two outputs."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 6, 3, padding=1)
        self.fc = nn.Linear(6, 6)
        self.head = nn.Linear(24, 3)

    def forward(self, x, mask=None, scale=2.0):
        if mask is not None:
            x = x * mask
        y = self.conv(x)
        pooled = self.fc(F.relu6(self.fc(y.mean((2, 3))))).clamp(min=-1.0)
        z = F.adaptive_avg_pool2d(y.unsqueeze(1).squeeze(1), (2, 2))
        z = z.view(-1, z.size(1) * z.size(2) * z.size(3))
        return self.head(z) * scale, pooled


def test_defaults_sizes_means_and_a_layer_called_twice():
    model = _model(Details)
    result = layerloom.from_module(model, torch.randn(2, 2, 5, 5))
    graph, report = result.graph, result.report
    assert [n.id for n in graph if n.type_id == "Input"] == ["x"]
    assert report.mapped_to("Tensor.mean") == {"AdaptiveAvgPool2d": 1} and graph.node("mean_flat")
    assert report.mapped_to("nn.Linear") == {"Linear": 3}
    assert graph.node("relu6").params["expression"] == "clamp(x, 0.0, 6.0)"
    assert graph.node("clamp").params["expression"] == "max(x, -1.0)"
    assert any("'fc' is called more than once" in note for note in report.notes)
    inputs = torch.randn(4, 2, 5, 5)
    with torch.no_grad():
        ours = dict(zip(compile_graph(result.graph).output_names, _compiled(result)(inputs)))
        theirs = dict(zip(("out1", "out2"), model.eval()(inputs)))
    torch.testing.assert_close(ours, theirs)


class HeldTensors(nn.Module):
    """Tensors the model holds itself: normalisation buffers, a per-feature scale and a temperature."""

    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.tensor([0.5, 0.4, 0.3]).reshape(3, 1, 1))
        self.register_buffer("std", torch.tensor([0.2, 0.25, 0.3]).reshape(3, 1, 1))
        self.conv = nn.Conv2d(3, 4, 3)
        self.fc = nn.Linear(16, 6)
        self.gamma = nn.Parameter(torch.rand(6))
        self.temperature = nn.Parameter(torch.tensor(0.7))

    def forward(self, x):
        y = self.fc(self.conv((x - self.mean) / self.std).flatten(1)) * self.gamma
        return y / self.temperature


def test_tensors_the_model_holds_become_formula_parameters_or_constants():
    model = _model(HeldTensors)
    result = layerloom.from_module(model, torch.randn(2, 3, 4, 4))
    graph = result.graph
    assert graph.node("sub").params["op_type"] == "Sub" and graph.node("truediv").params["op_type"] == "Div"
    assert graph.node("mul").params["parameter_shape"] == "per_feature"
    assert graph.node("truediv_1").params["parameters"] == "a"
    torch.testing.assert_close(result.weights["mul.a"], model.gamma.detach())
    torch.testing.assert_close(result.weights["sub.c0"], model.mean)
    ours = _compiled(result)
    assert ours.get_parameter("truediv_1.a").requires_grad  # the temperature still trains
    inputs = torch.randn(3, 3, 4, 4)
    with torch.no_grad():
        torch.testing.assert_close(ours(inputs), model.eval()(inputs))


def _model_part_types(graph) -> collections.Counter:
    outputs = [node.id for node in graph if graph.spec(node).role == OUTPUT]
    return collections.Counter(graph.node(node_id).type_id for node_id in graph.ancestors(outputs))


@pytest.mark.parametrize("path", example_paths(), ids=lambda p: p.name.split(".")[0])
def test_every_example_compiled_imports_back_as_the_same_nodes(path):
    """Round trip: graph -> compiled module -> from_module gives the model part's nodes, named alike, with
    the compiled weights (from_module itself checks the outputs)."""
    graph = load_graph(path)
    compiled = compile_graph(graph, seed=0)
    inputs = compiled.example_inputs(2)
    result = layerloom.from_module(compiled.model, inputs if len(inputs) > 1 else inputs[0])
    assert _model_part_types(result.graph) == _model_part_types(graph)
    assert set(result.weights) == set(compiled.model.state_dict())


@pytest.mark.parametrize("key", ["ops", "lstm"])
def test_an_imported_graph_compiled_imports_back_the_same(imported, key):
    """Formula, ONNX operator and LayerLoom's LSTM/GRU modules map back to their own nodes."""
    result = imported[key][1]
    again = layerloom.from_module(_compiled(result), imported[key][2](2))
    assert _model_part_types(again.graph) == _model_part_types(result.graph)
    assert set(again.weights) == set(result.weights)


# ------------------------------------------------------------------------------------ refusals
class Gate(nn.Module):
    def forward(self, x):
        if x.sum() > 0:  # data-dependent: torch.fx cannot follow it
            return x
        return -x


class Gated(nn.Module):
    def __init__(self):
        super().__init__()
        self.gate = Gate()
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(self.gate(x))


class Spectrum(nn.Module):
    def forward(self, x):
        return torch.fft.rfft(x).abs()


class WithSpectrum(nn.Module):
    def __init__(self):
        super().__init__()
        self.spectrum = Spectrum()
        self.weight = nn.Parameter(torch.ones(4, 3))

    def forward(self, x):
        return self.spectrum(x), x @ self.weight  # F.linear written by hand: the weight is used directly


def test_a_user_class_that_cannot_be_traced_is_refused_by_name():
    with pytest.raises(ModelImportError) as caught:
        layerloom.from_module(Gated(), torch.randn(2, 4))
    text = str(caught.value)
    assert "'gate' (Gate)" in text and "line" in text and "control flow" in text


def test_calls_with_no_node_are_refused_naming_the_module_and_listed():
    with pytest.raises(ModelImportError) as caught:
        layerloom.from_module(WithSpectrum(), torch.randn(2, 4))
    text = str(caught.value)
    assert "rfft" in text and "'spectrum' (Spectrum)" in text and "tensor 'weight' directly" in text
    assert not caught.value.report.ok and len(caught.value.report.unsupported_ops) == 2
