"""Sequence layers: LSTM, GRU and the Transformer encoder layer (all batch-first, [N, T, features])."""

from __future__ import annotations

from layerloom.core.errors import ShapeError
from layerloom.catalog.initializers import INIT_PARAM
from layerloom.core.params import BoolParam, ChoiceParam, FloatParam, IntParam
from layerloom.catalog.spec import NodeSpec
from layerloom.catalog.builtin._common import SEQUENCE, ll_modules, nn, positive, shape_text

SEQ_LAYOUT = "[N, time, features]"


def _sequence_input(ctx):
    x = ctx.input()
    if x.rank != 3:
        if x.rank == 2:
            hint = "add a Reshape to [time, features] (e.g. [-1, 1] for one value per step)"
        else:
            hint = "add a Flatten/Reshape so each sample is [time, features]"
        raise ShapeError(f"expects {SEQ_LAYOUT} but receives {shape_text(x)}; {hint}", "in")
    return ctx.expect_float()


def _rnn_params():
    return (
        positive("hidden_size", 64, "Size of the hidden state", maximum=65536),
        IntParam("num_layers", 1, "Number of stacked recurrent layers", minimum=1, maximum=64),
        BoolParam("bidirectional", False, "Also read the sequence backwards (doubles the output size)"),
        FloatParam("dropout", 0.0, "Dropout between stacked layers (needs num_layers > 1)", minimum=0.0, maximum=1.0),
        ChoiceParam("output", "last", "Return the final state [N, H] or the whole sequence [N, T, H]",
                    choices=("last", "sequence")),
        BoolParam("bias", True, "Learn bias terms"),
        INIT_PARAM,
    )


def _rnn_infer(ctx):
    x = _sequence_input(ctx)
    width = ctx["hidden_size"] * (2 if ctx["bidirectional"] else 1)
    if ctx["output"] == "sequence":
        return x.with_shape(x.shape[:2] + (width,))
    return x.with_shape(("N", width))


def _rnn_build_for(class_name: str):
    def build(ctx):
        cls, x = getattr(ll_modules, class_name), ctx.input()
        return cls(x.shape[2], ctx["hidden_size"], num_layers=ctx["num_layers"], bias=ctx["bias"],
                   dropout=ctx["dropout"] if ctx["num_layers"] > 1 else 0.0,
                   bidirectional=ctx["bidirectional"], return_sequence=ctx["output"] == "sequence")
    return build


def _rnn_count_for(gates: int):
    def count(ctx):
        h = ctx["hidden_size"]
        dirs = 2 if ctx["bidirectional"] else 1
        total = 0
        for layer in range(ctx["num_layers"]):
            fin = ctx.input().shape[2] if layer == 0 else h * dirs
            per_dir = gates * h * (fin + h) + (2 * gates * h if ctx["bias"] else 0)
            total += per_dir * dirs
        return total
    return count


def _transformer_infer(ctx):
    x = _sequence_input(ctx)
    d_model, heads = x.shape[2], ctx["nhead"]
    if d_model % heads:
        raise ShapeError(f"the feature size {d_model} (d_model) must be divisible by nhead={heads}; "
                         "change nhead or project the features with a Linear first", "in", "nhead")
    return x


def _transformer_build(ctx):
    return nn.TransformerEncoderLayer(
        ctx.input().shape[2], ctx["nhead"], dim_feedforward=ctx["dim_feedforward"], dropout=ctx["dropout"],
        activation=ctx["activation"], layer_norm_eps=ctx["layer_norm_eps"], batch_first=True,
        norm_first=ctx["norm_first"])


def _transformer_count(ctx):
    d, ff = ctx.input().shape[2], ctx["dim_feedforward"]
    attention = 3 * d * d + 3 * d + d * d + d
    feedforward = d * ff + ff + ff * d + d
    norms = 4 * d
    return attention + feedforward + norms


def specs():
    return [
        NodeSpec(
            "LSTM", SEQUENCE, "Long short-term memory over [N, time, features]; returns the final state or the sequence",
            params=_rnn_params(), infer=_rnn_infer, build=_rnn_build_for("LSTM"),
            count_params=_rnn_count_for(4), torch_name="torch.nn.LSTM",
        ),
        NodeSpec(
            "GRU", SEQUENCE, "Gated recurrent unit over [N, time, features]; returns the final state or the sequence",
            params=_rnn_params(), infer=_rnn_infer, build=_rnn_build_for("GRU"),
            count_params=_rnn_count_for(3), torch_name="torch.nn.GRU",
        ),
        NodeSpec(
            "TransformerEncoderLayer", SEQUENCE,
            "Self-attention + feed-forward block over [N, time, d_model] (d_model from the input)",
            params=(
                positive("nhead", 4, "Number of attention heads (must divide the feature size)", maximum=1024),
                positive("dim_feedforward", 2048, "Width of the feed-forward layer", maximum=1_000_000),
                FloatParam("dropout", 0.1, "Dropout inside the block", minimum=0.0, maximum=1.0),
                ChoiceParam("activation", "relu", "Activation of the feed-forward layer", choices=("relu", "gelu")),
                FloatParam("layer_norm_eps", 1e-5, "Epsilon of the layer norms", minimum=0.0, maximum=1.0,
                           exclusive_minimum=True),
                BoolParam("norm_first", False, "Normalise before attention and feed-forward (pre-LN)"),
            ),
            infer=_transformer_infer, build=_transformer_build, count_params=_transformer_count,
            torch_name="torch.nn.TransformerEncoderLayer",
        ),
    ]
