"""Losses. Each takes a prediction and a target and gives a scalar; they are compiled apart from the
model (the exported network has no loss)."""

from __future__ import annotations

from layerloom.core.errors import ShapeError
from layerloom.core.params import ChoiceParam, FloatParam
from layerloom.core.shapes import FLOAT, INT, TensorSpec, format_shape
from layerloom.catalog.spec import LOSS, LOSS_ROLE, TARGET, TENSOR, NodeSpec, Port
from layerloom.catalog.builtin._common import LOSSES, nn

PORTS_IN = (
    Port("pred", doc="the model's prediction"),
    Port("target", kind=TARGET, accepts=(TARGET, TENSOR), doc="labels or values to match"),
)
PORTS_OUT = (Port("loss", kind=LOSS, doc="the scalar loss"),)
SCALAR = TensorSpec((), FLOAT)
REDUCTION = ChoiceParam("reduction", "mean", "Average or sum the per-sample losses", choices=("mean", "sum"))


def _pred(ctx) -> TensorSpec:
    pred = ctx.input("pred")
    if not pred.is_float:
        raise ShapeError("the prediction must be floating-point", "pred")
    return pred


def _classification_for(name: str, allow_probabilities: bool):
    def infer(ctx):
        pred = _pred(ctx)
        target = ctx.input("target")
        if pred.rank < 2:
            raise ShapeError(f"expects class scores [N, classes] as prediction but receives "
                             f"{format_shape(pred.shape)}", "pred")
        expected = (pred.shape[0],) + pred.shape[2:]
        if target.dtype == INT:
            if target.shape != expected:
                hint = ""
                if target.shape == expected + (1,):
                    hint = "; set the Target shape to [] (one class index per sample)"
                raise ShapeError(f"class indices must have shape {format_shape(expected)} for a prediction "
                                 f"{format_shape(pred.shape)}, but the target is {format_shape(target.shape)}"
                                 + hint, "target")
            return SCALAR
        if not allow_probabilities:
            raise ShapeError(f"{name} needs integer class indices as target, but receives float32; set the "
                             "Target dtype to int64", "target")
        if target.shape != pred.shape:
            raise ShapeError(f"float targets are class probabilities and must match the prediction "
                             f"{format_shape(pred.shape)}, but the target is {format_shape(target.shape)}; "
                             "for class indices set the Target dtype to int64 and shape to []", "target")
        return SCALAR
    return infer


def _regression_infer(ctx):
    pred = _pred(ctx)
    target = ctx.input("target")
    if target.dtype != FLOAT:
        raise ShapeError("needs float32 targets but receives int64; set the Target dtype to float32 "
                         "(for class indices use CrossEntropyLoss)", "target")
    if pred.shape != target.shape:
        message = (f"prediction {format_shape(pred.shape)} and target {format_shape(target.shape)} must have "
                   "the same shape")
        if pred.shape == target.shape + (1,):
            message += (f"; they would broadcast to [N, N] and train on the wrong pairs. Set the Target shape "
                        f"to {format_shape(pred.shape[1:])}")
        elif target.shape == pred.shape + (1,):
            message += f"; set the Target shape to {format_shape(pred.shape[1:])}"
        raise ShapeError(message, "target")
    return SCALAR


def _loss(type_id, doc, factory, infer, params=(), aliases=()):
    return NodeSpec(type_id, LOSSES, doc, role=LOSS_ROLE, inputs=PORTS_IN, outputs=PORTS_OUT,
                    params=tuple(params) + (REDUCTION,), infer=infer, build=factory, count_params=lambda ctx: 0,
                    aliases=tuple(aliases), torch_name=f"torch.nn.{type_id}")


def specs():
    return [
        _loss("CrossEntropyLoss", "Classification from raw scores (logits) and class indices; applies softmax itself",
              lambda ctx: nn.CrossEntropyLoss(reduction=ctx["reduction"], label_smoothing=ctx["label_smoothing"]),
              _classification_for("CrossEntropyLoss", True),
              [FloatParam("label_smoothing", 0.0, "Spread this much probability over the other classes",
                          minimum=0.0, maximum=0.99)],
              aliases=("CategoricalCrossentropy",)),
        _loss("NLLLoss", "Negative log-likelihood of class indices; expects log-probabilities (put a LogSoftmax before it)",
              lambda ctx: nn.NLLLoss(reduction=ctx["reduction"]), _classification_for("NLLLoss", False)),
        _loss("MSELoss", "Mean squared error for regression", lambda ctx: nn.MSELoss(reduction=ctx["reduction"]),
              _regression_infer, aliases=("MeanSquaredError",)),
        _loss("L1Loss", "Mean absolute error for regression", lambda ctx: nn.L1Loss(reduction=ctx["reduction"]),
              _regression_infer, aliases=("MeanAbsoluteError",)),
        _loss("SmoothL1Loss", "Squared error near zero, absolute error beyond beta",
              lambda ctx: nn.SmoothL1Loss(reduction=ctx["reduction"], beta=ctx["beta"]), _regression_infer,
              [FloatParam("beta", 1.0, "Where the loss turns from squared to absolute", minimum=0.0, maximum=1e6)]),
        _loss("HuberLoss", "Squared error near zero, delta-scaled absolute error beyond delta",
              lambda ctx: nn.HuberLoss(reduction=ctx["reduction"], delta=ctx["delta"]), _regression_infer,
              [FloatParam("delta", 1.0, "Where the loss turns from squared to absolute", minimum=0.0, maximum=1e6,
                          exclusive_minimum=True)]),
        _loss("BCEWithLogitsLoss", "Binary / multi-label classification from raw scores and 0/1 float targets",
              lambda ctx: nn.BCEWithLogitsLoss(reduction=ctx["reduction"]), _regression_infer,
              aliases=("BinaryCrossentropy",)),
    ]
