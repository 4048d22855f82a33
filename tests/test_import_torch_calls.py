"""Every function and tensor method the PyTorch importer maps (``layerloom.importers.torch_calls``) has a case:
a one-call model imports, each case's call is recorded in the report as mapped, and ``from_module``'s own check
proves the graph gives the call's outputs (in eval mode). A new rule needs a case here."""

from __future__ import annotations

import operator

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import layerloom
from layerloom.importers import torch_calls as calls


class Call(nn.Module):
    """A model whose forward is one function of its input."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


F4 = (3, 4, 4)  # one image sample: channels, height, width
FUNCTION_CASES = [
    (torch.relu, lambda x: torch.relu(x), (5,)),
    (F.relu, lambda x: F.relu(x), (5,)),
    (torch.sigmoid, lambda x: torch.sigmoid(x), (5,)),
    (F.sigmoid, lambda x: F.sigmoid(x), (5,)),
    (torch.tanh, lambda x: torch.tanh(x), (5,)),
    (F.tanh, lambda x: F.tanh(x), (5,)),
    (F.silu, lambda x: F.silu(x), (5,)),
    (F.gelu, lambda x: F.gelu(x, approximate="tanh"), (5,)),
    (F.elu, lambda x: F.elu(x, 0.7), (5,)),
    (F.leaky_relu, lambda x: F.leaky_relu(x, 0.1), (5,)),
    (F.softplus, lambda x: F.softplus(x, 2.0), (5,)),
    (F.softmax, lambda x: F.softmax(x, dim=1), (5,)),
    (torch.softmax, lambda x: torch.softmax(x, -1), (5,)),
    (F.log_softmax, lambda x: F.log_softmax(x, 1), (5,)),
    (torch.log_softmax, lambda x: torch.log_softmax(x, dim=-1), (5,)),
    (F.dropout, lambda x: F.dropout(x, 0.2, training=False), (5,)),
    (torch.flatten, lambda x: torch.flatten(x, 1), F4),
    (torch.cat, lambda x: torch.cat([x, x * 2], dim=1), (5,)),
    (torch.concat, lambda x: torch.concat((x, x, x), -1), (5,)),
    (operator.add, lambda x: x + x * 2, (5,)),  # `y += x` is traced as operator.add too
    (torch.add, lambda x: torch.add(x, 1.5), (5,)),
    (operator.mul, lambda x: x * torch.tanh(x), (5,)),
    (torch.mul, lambda x: torch.mul(3.0, x), (5,)),
    (operator.mul, lambda x: x * 1e7, (5,)),  # beyond a formula's numbers: an ONNX Mul with the constant
    (operator.pow, lambda x: x.abs() ** 20, (5,)),  # beyond a formula's exponents: an ONNX Pow
    (operator.sub, lambda x: 1.0 - x, (5,)),
    (torch.sub, lambda x: torch.sub(x, torch.relu(x)), (5,)),
    (operator.truediv, lambda x: x / 4, (5,)),
    (torch.div, lambda x: torch.div(x, 2.0), (5,)),
    (F.max_pool1d, lambda x: F.max_pool1d(x, 2), (3, 8)),
    (F.max_pool2d, lambda x: F.max_pool2d(x, 3, 1, 1), F4),
    (F.avg_pool2d, lambda x: F.avg_pool2d(x, 2, stride=2), F4),
    (F.adaptive_avg_pool2d, lambda x: F.adaptive_avg_pool2d(x, (1, 2)), F4),
    (torch.exp, lambda x: torch.exp(x), (5,)),
    (torch.log, lambda x: torch.log(x.abs() + 1.0), (5,)),
    (torch.sqrt, lambda x: torch.sqrt(x * x), (5,)),
    (torch.abs, lambda x: torch.abs(x), (5,)),
    (torch.sin, lambda x: torch.sin(x), (5,)),
    (torch.cos, lambda x: torch.cos(x), (5,)),
    (operator.pow, lambda x: x ** 2, (5,)),
    (torch.pow, lambda x: torch.pow(x, 3), (5,)),
    (operator.neg, lambda x: -x, (5,)),
    (torch.neg, lambda x: torch.neg(x), (5,)),
    (torch.permute, lambda x: torch.permute(x, (0, 2, 3, 1)), F4),
    (torch.transpose, lambda x: torch.transpose(x, 1, 3), F4),
    (F.interpolate, lambda x: F.interpolate(x, size=(6, 5), mode="bicubic"), F4),
    (torch.clamp, lambda x: torch.clamp(x, max=0.3), (5,)),
    (torch.clip, lambda x: torch.clip(x, -0.2, 0.2), (5,)),
    (F.hardtanh, lambda x: F.hardtanh(x, -0.5, 2.0), (5,)),
    (F.relu6, lambda x: F.relu6(x * 4), (5,)),
    (operator.matmul, lambda x: x @ x.transpose(1, 2), (3, 4)),
    (torch.matmul, lambda x: torch.matmul(x, x.transpose(1, 2)), (3, 4)),
    (torch.bmm, lambda x: torch.bmm(x, x.transpose(1, 2)), (3, 4)),
]
METHOD_CASES = [
    ("relu", lambda x: x.relu(), (5,)), ("sigmoid", lambda x: x.sigmoid(), (5,)), ("tanh", lambda x: x.tanh(), (5,)),
    ("softmax", lambda x: x.softmax(-1), (5,)), ("log_softmax", lambda x: x.log_softmax(dim=1), (5,)),
    ("flatten", lambda x: x.flatten(1), F4), ("add", lambda x: x.add(x), (5,)), ("mul", lambda x: x.mul(2.0), (5,)),
    ("sub", lambda x: x.sub(x.tanh()), (5,)), ("div", lambda x: x.div(3.0), (5,)), ("exp", lambda x: x.exp(), (5,)),
    ("log", lambda x: (x * x + 1).log(), (5,)), ("sqrt", lambda x: (x * x).sqrt(), (5,)),
    ("abs", lambda x: x.abs(), (5,)),
    ("sin", lambda x: x.sin(), (5,)), ("cos", lambda x: x.cos(), (5,)), ("pow", lambda x: x.pow(2), (5,)),
    ("neg", lambda x: x.neg(), (5,)), ("permute", lambda x: x.permute(0, 3, 1, 2), F4),
    ("transpose", lambda x: x.transpose(-1, -2), F4), ("matmul", lambda x: x.matmul(x.transpose(1, 2)), (3, 4)),
    ("clamp", lambda x: x.clamp(-0.1, 0.1), (5,)), ("clip", lambda x: x.clip(min=0.0), (5,)),
]


def test_every_function_and_method_rule_has_a_case():
    assert {key for key, _, _ in FUNCTION_CASES} == set(calls.FUNCTION_RULES)
    assert {key for key, _, _ in METHOD_CASES} == set(calls.METHOD_RULES)


def _import(fn, shape):
    torch.manual_seed(0)
    return layerloom.from_module(Call(fn), torch.randn((2,) + shape))


@pytest.mark.parametrize("key, fn, shape", FUNCTION_CASES,
                         ids=[f"{k.__module__ or 'torch'}.{k.__name__}" for k, _, _ in FUNCTION_CASES])
def test_each_function_imports_and_gives_its_outputs(key, fn, shape):
    report = _import(fn, shape).report
    assert report.ok and any(report.mapped_to(op) for op in report.op_types if op.endswith("." + key.__name__))


@pytest.mark.parametrize("key, fn, shape", METHOD_CASES, ids=[k for k, _, _ in METHOD_CASES])
def test_each_tensor_method_imports_and_gives_its_outputs(key, fn, shape):
    report = _import(fn, shape).report
    assert report.ok and report.mapped_to(f"Tensor.{key}")


def test_an_f_dropout_that_always_drops_is_named_when_the_outputs_differ():
    with pytest.raises(layerloom.importers.ModelImportError, match="training=self.training"):
        _import(lambda x: F.dropout(x, 0.5), (50,))
