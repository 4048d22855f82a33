"""Compile: the graph becomes a real torch.fx module that computes exactly what the same network
written by hand in torch.nn computes, with the same weights."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from helpers import add, chain, mlp_graph
from torch import nn

from layerloom import CompileError, Graph, compile_graph, load_graph
from layerloom.files.resources import example_path


def same_weights(hand: nn.Module, compiled) -> nn.Module:
    """Load the compiled model's weights into the hand-written twin; keys must match exactly."""
    hand.load_state_dict(compiled.model.state_dict(), strict=True)
    return hand


class HandMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(64, 32)
        self.relu1 = nn.ReLU()
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x):
        return self.fc2(self.relu1(self.fc1(x)))


class HandCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.fc1 = nn.Linear(128, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc2(F.relu(self.fc1(x.flatten(1))))


class HandResNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 16, 3, padding=1)
        self.block_conv1 = nn.Conv2d(16, 16, 3, padding=1, bias=False)
        self.block_bn1 = nn.BatchNorm2d(16)
        self.block_conv2 = nn.Conv2d(16, 16, 3, padding=1, bias=False)
        self.block_bn2 = nn.BatchNorm2d(16)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        s = F.relu(self.stem(x))
        h = self.block_bn2(self.block_conv2(F.relu(self.block_bn1(self.block_conv1(s)))))
        h = F.relu(h + s)
        return self.fc(F.adaptive_avg_pool2d(h, 1).flatten(1))


class HandLSTM(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(8, 64, batch_first=True)
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        _, (h, _) = self.lstm(x)
        return self.fc(h[-1])


class HandRegression(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(8, 64), nn.Linear(64, 64), nn.Linear(64, 1)

    def forward(self, x):
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


@pytest.mark.parametrize("example,hand,shape", [
    ("digits_cnn", HandCNN, (5, 1, 8, 8)),
    ("digits_residual", HandResNet, (5, 1, 8, 8)),
    ("sequence_lstm", HandLSTM, (5, 8, 8)),
    ("regression_mlp", HandRegression, (5, 8)),
])
@pytest.mark.parametrize("mode", ["eval", "train"])
def test_examples_equal_hand_written_networks(example, hand, shape, mode):
    compiled = compile_graph(load_graph(example_path(example)), seed=1)
    twin = same_weights(hand(), compiled)
    getattr(compiled.model, mode)()
    getattr(twin, mode)()
    x = torch.randn(shape)
    torch.manual_seed(0)
    got = compiled.model(x)
    torch.manual_seed(0)
    want = twin(x)
    assert torch.equal(got, want)
    if mode == "train":  # batch-norm running statistics moved identically too
        for key, value in twin.state_dict().items():
            assert torch.equal(compiled.model.state_dict()[key], value), key


def test_mlp_equals_hand_written_including_gradients():
    compiled = compile_graph(mlp_graph(), seed=0)
    twin = same_weights(HandMLP(), compiled)
    x, y = torch.randn(7, 64), torch.randint(0, 10, (7,))
    result = compiled.criterion(x, y)
    assert torch.equal(result["out/logits"], twin(x))
    assert torch.equal(result["loss"], F.cross_entropy(twin(x), y))
    result["loss"].backward()
    F.cross_entropy(twin(x), y).backward()
    for (name, p), (_, q) in zip(compiled.model.named_parameters(), twin.named_parameters()):
        assert torch.equal(p.grad, q.grad), name


def test_criterion_trains_the_model_it_shares_layers_with():
    compiled = compile_graph(mlp_graph(), seed=0)
    assert compiled.criterion.fc1 is compiled.model.fc1
    opt = torch.optim.SGD(compiled.criterion.parameters(), lr=0.5)
    x, y = torch.randn(32, 64), torch.randint(0, 10, (32,))
    before = compiled.model(x).detach().clone()
    for _ in range(20):
        opt.zero_grad()
        compiled.criterion(x, y)["loss"].backward()
        opt.step()
    assert not torch.equal(before, compiled.model(x))
    assert F.cross_entropy(compiled.model(x), y) < F.cross_entropy(before, y)


def test_skip_connections_multi_input_and_multi_output():
    g = Graph(name="two heads")
    img = add(g, "Input", "image", shape=[1, 8, 8])
    meta = add(g, "Input", "meta", shape=[3])
    conv = add(g, "Conv2d", "conv", out_channels=4, kernel_size=3, padding=1)
    act = add(g, "ReLU", "act")
    skip = add(g, "Add", "skip")
    flat = add(g, "Flatten", "flat")
    cat = add(g, "Concat", "cat")
    head_a = add(g, "Linear", "head_a", out_features=10)
    head_b = add(g, "Linear", "head_b", out_features=1)
    gate = add(g, "Multiply", "gate", inputs=3)
    chain(g, img, conv, act)
    g.connect("act", "out", "skip", "in1")
    g.connect("conv", "out", "skip", "in2")
    chain(g, skip, flat)
    g.connect("flat", "out", "cat", "in1")
    g.connect("meta", "out", "cat", "in2")
    chain(g, cat, head_a)
    g.connect("cat", "out", "head_b", "in")
    for port in ("in1", "in2", "in3"):
        g.connect("head_b", "out", "gate", port)
    chain(g, head_a, add(g, "Output", "classes"))
    chain(g, gate, add(g, "Output", "score"))
    compiled = compile_graph(g, seed=0)
    assert compiled.input_names == ["image", "meta"]
    assert compiled.output_names == ["classes", "score"]
    m = compiled.model
    x, z = torch.randn(3, 1, 8, 8), torch.randn(3, 3)
    c = m.conv(x)
    joined = torch.cat([(F.relu(c) + c).flatten(1), z], dim=1)
    b = m.head_b(joined)
    classes, score = m(x, z)
    assert torch.equal(classes, m.head_a(joined))
    assert torch.equal(score, b * b * b)
    code = m.code
    assert "skip = act + conv" in code and "torch.cat((flat, meta), dim = 1)" in code


def test_module_names_follow_node_names_and_stay_valid_python():
    g = mlp_graph(with_loss=False)
    g.rename_node("fc1", "hidden layer")
    g.rename_node("fc2", "training")   # an nn.Module attribute
    g.rename_node("relu1", "2nd")
    compiled = compile_graph(g)
    names = dict(compiled.model.named_children())
    assert set(names) == {"hidden_layer", "training_", "n2nd"}
    assert isinstance(names["training_"], nn.Linear)
    assert "self.hidden_layer(image)" in compiled.model.code
    assert compiled.module_names == {"fc1": "hidden_layer", "relu1": "n2nd", "fc2": "training_"}


def test_losses_and_stray_nodes_are_not_part_of_the_model():
    g = mlp_graph()
    add(g, "Linear", "stray")
    compiled = compile_graph(g)
    assert set(dict(compiled.model.named_children())) == {"fc1", "relu1", "fc2"}
    assert "loss" in dict(compiled.criterion.named_children())
    assert compiled.target_names == ["label"]
    assert [t.name for t in compiled.losses] == ["loss"]
    assert compiled.losses[0].pred_node == "fc2" and compiled.losses[0].target_node == "label"


def test_invalid_graph_raises_compile_error_listing_problems():
    g = mlp_graph()
    g.set_param("fc2", "out_features", -2, check=False)
    with pytest.raises(CompileError) as info:
        compile_graph(g)
    assert 'Linear "fc2": parameter out_features: must be at least 1' in str(info.value)
    assert [p.code for p in info.value.problems] == ["bad_param"]


def test_seeded_compile_is_reproducible():
    a = compile_graph(mlp_graph(), seed=3).model.state_dict()
    b = compile_graph(mlp_graph(), seed=3).model.state_dict()
    c = compile_graph(mlp_graph(), seed=4).model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["fc1.weight"], c["fc1.weight"])
    state = torch.random.get_rng_state()
    compile_graph(mlp_graph(), seed=5)
    assert torch.equal(state, torch.random.get_rng_state())  # the global RNG is left alone


@pytest.mark.parametrize("scheme", ["zeros", "xavier_uniform", "kaiming_normal", "normal"])
def test_weight_initialisation_choice(scheme):
    g = mlp_graph(with_loss=False)
    g.set_param("fc1", "init", scheme)
    m = compile_graph(g, seed=0).model
    w, default_w = m.fc1.weight, compile_graph(mlp_graph(with_loss=False), seed=0).model.fc1.weight
    assert torch.count_nonzero(m.fc1.bias) == 0
    if scheme == "zeros":
        assert torch.count_nonzero(w) == 0
    elif scheme == "normal":
        assert abs(w.std().item() - 0.02) < 0.005
    else:
        assert not torch.equal(w, default_w)
    # Only fc1 was asked for; fc2 keeps PyTorch's default initialisation from the same seed.
    assert torch.equal(m.fc2.weight, compile_graph(mlp_graph(with_loss=False), seed=0).model.fc2.weight)


def test_every_example_compiles_and_runs():
    from layerloom.files.resources import example_paths

    for path in example_paths():
        compiled = compile_graph(load_graph(path), seed=0)
        out = compiled.model(*compiled.example_inputs(batch=4))
        assert out.shape[0] == 4, path.name
        assert compiled.criterion is not None


# ---------------------------------------------------------------- regressions from review
def test_inputs_named_like_builtins_keep_their_argument_name():
    g = mlp_graph()
    g.rename_node("image", "input")
    g.rename_node("label", "list")
    compiled = compile_graph(g, seed=0)
    assert compiled.input_names == ["input"] and compiled.target_names == ["list"]
    x, y = torch.randn(2, 64), torch.randint(0, 10, (2,))
    assert compiled.model(input=x).shape == (2, 10)
    assert compiled.criterion(input=x, list=y)["loss"].ndim == 0


def test_criterion_takes_inputs_then_targets_whatever_the_insertion_order():
    g = Graph()
    y = add(g, "Target", "y", shape=[1], dtype="float32")   # added before the Input on purpose
    x = add(g, "Input", "x", shape=[1])
    fc = add(g, "Linear", "fc", out_features=1)
    chain(g, x, fc, add(g, "Output", "out"))
    loss = add(g, "MSELoss", "mse")
    g.connect("fc", "out", "mse", "pred")
    g.connect(y.id, "out", "mse", "target")
    compiled = compile_graph(g, seed=0)
    assert [e.name for e in compiled.criterion_inputs] == ["x", "y"]
    X, Y = torch.randn(4, 1), torch.randn(4, 1)
    result = compiled.criterion(X, Y)
    assert torch.equal(result["pred/mse"], compiled.model(X))
    assert torch.equal(result["loss"], F.mse_loss(compiled.model(X), Y))


def test_an_input_that_only_feeds_a_loss_target_is_a_criterion_argument():
    g = Graph()
    x = add(g, "Input", "x", shape=[4])
    clean = add(g, "Input", "clean", shape=[4])
    fc = add(g, "Linear", "fc", out_features=4)
    chain(g, x, fc, add(g, "Output", "out"))
    add(g, "MSELoss", "mse")
    g.connect("fc", "out", "mse", "pred")
    g.connect(clean.id, "out", "mse", "target")
    compiled = compile_graph(g)
    assert compiled.input_names == ["x"]
    assert [e.name for e in compiled.criterion_inputs] == ["x", "clean"]
    a, b = torch.randn(3, 4), torch.randn(3, 4)
    assert torch.equal(compiled.criterion(a, b)["loss"], F.mse_loss(compiled.model(a), b))


@pytest.mark.parametrize("name", ["meta", "recompile", "to_folder", "print_readable", "code", "graph", "forward"])
def test_layer_names_that_shadow_module_attributes_still_compile_and_run(name):
    g = mlp_graph(with_loss=False)
    g.rename_node("fc1", name)
    compiled = compile_graph(g)
    assert compiled.model(torch.randn(2, 64)).shape == (2, 10)
    assert isinstance(getattr(compiled.model, compiled.module_names["fc1"]), nn.Linear)


def test_custom_init_keeps_the_embedding_padding_row_zero():
    g = Graph()
    tokens = add(g, "Input", "tokens", shape=[5], dtype="int64")
    emb = add(g, "Embedding", "emb", num_embeddings=10, embedding_dim=4, padding_idx=0, init="normal")
    chain(g, tokens, emb, add(g, "Flatten", "flat"), add(g, "Output", "out"))
    compiled = compile_graph(g, seed=0)
    assert torch.count_nonzero(compiled.model.emb.weight[0]) == 0
    assert torch.count_nonzero(compiled.model.emb.weight[1:]) > 0
    assert compiled.model(*compiled.example_inputs(3)).shape == (3, 20)


def test_a_layer_that_cannot_be_built_gives_a_compile_error_naming_it():
    from layerloom.core.shapes import batched
    from layerloom.catalog.spec import NodeSpec

    catalog = Graph().catalog.copy()

    def explode(ctx):
        raise RuntimeError("can't allocate 2748779069440 bytes")

    catalog.register(NodeSpec("Huge", "Test", "never fits", infer=lambda ctx: batched((4,)), build=explode,
                              count_params=lambda ctx: 0))
    g = Graph(catalog)
    chain(g, add(g, "Input", "x", shape=[4]), add(g, "Huge", "big"), add(g, "Output", "y"))
    with pytest.raises(CompileError) as info:
        compile_graph(g)
    assert str(info.value).endswith('Huge "big": cannot build the layer: RuntimeError: can\'t allocate 2748779069440 bytes')
