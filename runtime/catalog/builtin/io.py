"""Where data enters and leaves the network: Input, Target, Output."""

from __future__ import annotations

from layerloom.core.params import ChoiceParam, ShapeParam
from layerloom.core.shapes import DTYPES, FLOAT, INT, batched
from layerloom.catalog.spec import INPUT, OUTPUT, TARGET, TARGET_ROLE, NodeSpec, Port
from layerloom.catalog.builtin._common import IO


def _infer_input(ctx):
    return batched(ctx["shape"], ctx["dtype"])


def _infer_target(ctx):
    return batched(ctx["shape"], ctx["dtype"])


def specs():
    return [
        NodeSpec(
            "Input", IO,
            "A model input: one sample's shape without the batch dimension, e.g. [1, 8, 8] for an 8x8 image",
            role=INPUT, inputs=(), outputs=(Port("out", doc="the input batch"),),
            params=(
                ShapeParam("shape", (64,), "Shape of one sample, without the batch dimension", min_rank=1,
                           example=[1, 28, 28]),
                ChoiceParam("dtype", FLOAT, "float32 for features and images, int64 for token ids", choices=DTYPES),
            ),
            infer=_infer_input,
        ),
        NodeSpec(
            "Target", IO,
            "Labels from the dataset: class indices (int64, shape []) or values to regress (float32)",
            role=TARGET_ROLE, inputs=(), outputs=(Port("out", kind=TARGET, doc="the label batch"),),
            params=(
                ShapeParam("shape", (), "Shape of one label without the batch dimension: [] for a class index or a scalar",
                           example=[1]),
                ChoiceParam("dtype", INT, "int64 for class indices, float32 for regression targets", choices=(INT, FLOAT)),
            ),
            infer=_infer_target,
        ),
        NodeSpec(
            "Output", IO,
            "A model output: what the exported model returns, named after this node",
            role=OUTPUT, inputs=(Port("in", doc="the tensor to return"),), outputs=(),
        ),
    ]
