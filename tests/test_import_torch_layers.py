"""The PyTorch importer's layer table (``layerloom.importers.torch_table``) and the TorchModule node: every mapped
``torch.nn`` layer class has a case that imports as its node with the layer's outputs, a user's subclass maps
like its base unless it changes what it computes, constructor arguments are recovered only for ``torch.nn``
layers, the TorchModule node names only ``torch.nn`` layer classes and checks shapes on the meta device, and
the mapping table is documented."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

import layerloom
from layerloom.catalog.builtin import torch_module
from layerloom.catalog.spec import default_catalog
from layerloom.core.errors import ParamError
from layerloom.importers import ModelImportError
from layerloom.importers import torch_calls as calls
from layerloom.importers import torch_table as table


# One case per mapped layer class: (layer, one sample's shape, dtype).
LAYER_CASES = [
    (lambda: nn.Linear(6, 4, bias=False), (3, 6), torch.float32),
    (lambda: nn.Conv1d(3, 4, 3, stride=2, padding=1), (3, 9), torch.float32),
    (lambda: nn.Conv2d(3, 6, (3, 1), padding="same", dilation=(2, 1), groups=3), (3, 7, 5), torch.float32),
    (lambda: nn.ConvTranspose2d(3, 4, 3, stride=2, padding=1, output_padding=1), (3, 4, 4), torch.float32),
    (lambda: nn.BatchNorm1d(5, eps=1e-3, momentum=0.2), (5, 4), torch.float32),
    (lambda: nn.BatchNorm2d(3, affine=False), (3, 4, 4), torch.float32),
    (lambda: nn.LayerNorm([4, 5]), (3, 4, 5), torch.float32),
    (lambda: nn.Dropout(0.3), (7,), torch.float32),
    (lambda: nn.MaxPool1d(3, stride=1, padding=1), (2, 8), torch.float32),
    (lambda: nn.MaxPool2d(3, stride=2, ceil_mode=True), (2, 7, 7), torch.float32),
    (lambda: nn.AvgPool2d(2, padding=1), (2, 5, 5), torch.float32),
    (lambda: nn.AdaptiveAvgPool2d((2, 3)), (2, 6, 6), torch.float32),
    (lambda: nn.Flatten(2), (2, 3, 4), torch.float32),
    (lambda: nn.Embedding(9, 4, padding_idx=0), (5,), torch.int64),
    (lambda: nn.ReLU(), (4,), torch.float32),
    (lambda: nn.Sigmoid(), (4,), torch.float32),
    (lambda: nn.Tanh(), (4,), torch.float32),
    (lambda: nn.SiLU(), (4,), torch.float32),
    (lambda: nn.LeakyReLU(0.2), (4,), torch.float32),
    (lambda: nn.ELU(0.5), (4,), torch.float32),
    (lambda: nn.GELU("tanh"), (4,), torch.float32),
    (lambda: nn.Softplus(2.0, 10.0), (4,), torch.float32),
    (lambda: nn.Softmax(dim=1), (3, 4), torch.float32),
    (lambda: nn.LogSoftmax(dim=-1), (3, 4), torch.float32),
    (lambda: nn.PReLU(3), (3, 4), torch.float32),
    (lambda: nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, batch_first=True, norm_first=True), (5, 8),
     torch.float32),
]


def test_every_mapped_layer_class_has_a_case():
    covered = {type(make()) for make, _, _ in LAYER_CASES}
    assert covered == set(table.MODULE_RULES), set(table.MODULE_RULES) ^ covered


@pytest.mark.parametrize("make, shape, dtype", LAYER_CASES, ids=[type(make()).__name__ for make, _, _ in LAYER_CASES])
def test_each_mapped_layer_imports_as_its_node(make, shape, dtype):
    torch.manual_seed(0)
    layer = make()
    example = torch.randint(0, 9, (2,) + shape) if dtype == torch.int64 else torch.randn((2,) + shape)
    result = layerloom.from_module(nn.Sequential(layer), example)  # from_module compares the outputs itself
    (node,) = [n for n in result.graph if n.type_id not in ("Input", "Output")]
    assert node.type_id == table.rule_class(layer).__name__ and result.report.ok


class TaggedLinear(nn.Linear):
    """A user's subclass that only adds an attribute: it computes what nn.Linear does."""

    def __init__(self, fin, fout):
        super().__init__(fin, fout)
        self.tag = "head"


class DoubledLinear(nn.Linear):
    def forward(self, x):
        return super().forward(x) * 2


class Subclasses(nn.Module):
    def __init__(self, doubled: bool):
        super().__init__()
        self.first = TaggedLinear(4, 5)
        self.second = DoubledLinear(5, 3) if doubled else nn.Linear(5, 3)

    def forward(self, x):
        return self.second(self.first(x))


def test_a_subclass_of_a_layer_maps_unless_it_changes_what_it_computes():
    result = layerloom.from_module(Subclasses(doubled=False), torch.randn(2, 4))
    assert result.graph.node("first").type_id == "Linear"
    assert result.report.mapped_to("test_import_torch_layers.TaggedLinear") == {"Linear": 1}
    with pytest.raises(ModelImportError, match=r"'second' \(DoubledLinear\)"):
        layerloom.from_module(Subclasses(doubled=True), torch.randn(2, 4))


def test_constructor_arguments_are_recovered_only_for_torch_nn_layers():
    assert table.constructor_args(nn.Dropout2d(0.3)) == {"p": 0.3, "inplace": False}
    assert table.constructor_args(nn.Upsample(scale_factor=2.0))["scale_factor"] == 2.0
    for module, why in ((Gate(), "not a torch.nn layer"), (nn.Sequential(), "not a torch.nn layer"),
                        (nn.TransformerDecoderLayer(4, 2, batch_first=True), "'d_model' is not kept")):
        with pytest.raises(table.NoMapping, match=why):
            table.constructor_args(module)


def test_map_module_reads_params_and_weights():
    conv = nn.Conv2d(3, 6, (3, 5), stride=2, padding=(1, 2), groups=3, bias=False)
    mapped = table.map_module(conv)
    assert mapped.type_id == "Conv2d" and mapped.params == {
        "out_channels": 6, "kernel_size": [3, 5], "stride": [2, 2], "padding": [1, 2], "dilation": [1, 1],
        "groups": 3, "bias": False}
    assert list(mapped.weights) == ["weight"]
    assert table.map_module(nn.LayerNorm((4, 5))).params["dims"] == 2
    assert table.map_module(nn.Softmax(dim=1)).params == {"dim": 1}
    with pytest.raises(table.NoMapping, match="padding_mode"):
        table.map_module(nn.Conv1d(2, 2, 3, padding_mode="reflect"))
    with pytest.raises(table.NoMapping, match="batch_first"):
        table.recurrent_params(nn.LSTM(3, 4), "last")


class Gate(nn.Module):
    def forward(self, x):
        if x.sum() > 0:  # data-dependent: torch.fx cannot follow it
            return x
        return -x


# ------------------------------------------------------------------------------------ the TorchModule node
def test_torch_module_node_names_only_torch_nn_layers():
    spec = default_catalog()["TorchModule"]
    param = spec.param("module")
    for bad in ("os.system", "__import__", "Sequential", "Module", "dropout2d", "Dropout2d; rm"):
        with pytest.raises(ParamError):
            param.coerce(bad)
    assert torch_module.torch_class("Hardswish") is nn.Hardswish
    assert torch_module.torch_class("functional") is None and torch_module.torch_class("Parameter") is None
    arguments = spec.param("arguments")
    for bad in ('{"p": {"__class__": 1}}', "[1]", '{"x": NaN}', "{"):
        with pytest.raises(ParamError):
            arguments.coerce(bad)


def test_torch_module_node_checks_shapes_on_the_meta_device():
    from layerloom import Graph, analyze

    graph = Graph()
    graph.add_node("Input", "x", {"shape": [2, 6, 6]}, node_id="x")
    graph.add_node("TorchModule", "up", {"module": "Upsample", "arguments": '{"scale_factor": 2.0}'}, node_id="up")
    graph.add_node("Output", "y", node_id="y")
    graph.connect("x", "out", "up", "in")
    graph.connect("up", "out", "y", "in")
    assert analyze(graph).nodes["up"].outputs["out"].shape == ("N", 2, 12, 12)
    graph.set_param("up", "module", "Bilinear")
    graph.set_param("up", "arguments", '{"in1_features": 100000, "in2_features": 100000, "out_features": 1000}')
    assert "more than" in analyze(graph).errors[0].describe()
    graph.set_param("up", "module", "NoSuchLayer")
    problems = analyze(graph).errors
    assert problems and "NoSuchLayer" in problems[0].describe()


def test_the_mapping_table_is_documented():
    text = (Path(__file__).resolve().parent.parent / "docs" / "import_pytorch.md").read_text()
    for cls in list(table.MODULE_RULES) + list(table.RECURRENT):
        assert f"`nn.{cls.__name__}`" in text, cls.__name__
    for name in calls.METHOD_RULES:
        assert f"`x.{name}()`" in text, name
