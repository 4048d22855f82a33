"""Formula: a node whose forward is an expression over its inputs, e.g. ``relu(x) - 0.1*x`` or
``a*x + b`` with learnable ``a``, ``b`` (see ``layerloom.catalog.formula_parser`` for what a formula may contain)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from layerloom.core.errors import ShapeError
from layerloom.catalog.formula_parser import INPUT_NAMES, MAX_LENGTH, Formula, FormulaError, parse_formula, parse_names
from layerloom.core.params import ChoiceParam, FloatParam, IntParam, StrParam
from layerloom.core.shapes import broadcast, format_shape
from layerloom.catalog.spec import NodeSpec, Port
from layerloom.catalog.builtin._common import ACTIVATION


@dataclass(frozen=True)
class ExpressionParam(StrParam):
    """Formula text; refused here when its form is wrong (names are checked against the node's inputs
    and parameters during inference)."""

    def _coerce(self, value):
        text = super()._coerce(value)
        try:
            parse_formula(text, INPUT_NAMES, None)
        except FormulaError as exc:
            raise self.fail(str(exc)) from None
        return text


@dataclass(frozen=True)
class NamesParam(StrParam):
    """Comma-separated names of learnable parameters, e.g. ``"a, b"``."""

    def _coerce(self, value):
        text = super()._coerce(value)
        try:
            parse_names(text)
        except FormulaError as exc:
            raise self.fail(str(exc)) from None
        return text


PARAMS = (
    ExpressionParam("expression", "relu(x) - 0.1*x",
                    "The forward pass over the inputs x, y, z, w and the learnable parameters: numbers, + - * / **, "
                    "pi, e and relu, sigmoid, tanh, exp, log, sqrt, abs, sin, cos, softplus, gelu, silu, elu, "
                    "leaky_relu(x, slope), clamp(x, lo, hi), min(a, b), max(a, b)", max_length=MAX_LENGTH,
                    example="x * sigmoid(a * x)"),
    IntParam("inputs", 1, "Number of inputs, named x, y, z, w", minimum=1, maximum=len(INPUT_NAMES)),
    NamesParam("parameters", "", "Learnable parameters used in the expression, comma-separated (e.g. a, b)",
               example="a, b"),
    ChoiceParam("parameter_shape", "scalar", "One value per parameter, or one per feature (last dimension)",
                choices=("scalar", "per_feature")),
    FloatParam("initial_value", 1.0, "The value every learnable parameter starts at", minimum=-1e6, maximum=1e6),
)


@lru_cache(maxsize=None)
def _ports(count: int) -> tuple[Port, ...]:
    return tuple(Port(name) for name in INPUT_NAMES[:count])


def formula_ports(params) -> tuple[Port, ...]:
    count = params.get("inputs", 1)
    if not isinstance(count, int) or not 1 <= count <= len(INPUT_NAMES):
        count = 1
    return _ports(count)


@lru_cache(maxsize=256)
def _checked(expression: str, count: int, declared: str) -> Formula:
    """The node's formula; a ShapeError naming ``expression`` or ``parameters`` when it cannot be used."""
    inputs = INPUT_NAMES[:count]
    try:
        names = parse_names(declared, INPUT_NAMES)
    except FormulaError as exc:
        raise ShapeError(f"parameters: {exc}", param="parameters") from None
    try:
        formula = parse_formula(expression, inputs, names)
    except FormulaError as exc:
        raise ShapeError(f"expression: {exc}", param="expression") from None
    used = formula.names_used()
    for name in inputs:
        if name not in used:
            raise ShapeError(f"expression: input {name!r} is not used; use it or lower `inputs`", param="expression")
    for name in names:
        if name not in used:
            raise ShapeError(f"expression: parameter {name!r} is declared but not used", param="expression")
    return formula


def _formula(ctx) -> Formula:
    return _checked(ctx["expression"], ctx["inputs"], ctx["parameters"])


def _features(ctx, out) -> tuple[int, ...]:
    """The shape of each learnable parameter."""
    if ctx["parameter_shape"] == "scalar":
        return ()
    if out.rank < 2:
        raise ShapeError("per-feature parameters need a feature dimension; use scalar", param="parameter_shape")
    return (out.shape[-1],)


def _infer(ctx):
    _formula(ctx)  # a bad expression is the problem to report, whatever the shapes
    items = [(port.name, ctx.expect_float(port.name)) for port in ctx.spec.input_ports(ctx.params)]
    shape = broadcast([spec.shape for _, spec in items])
    if shape is None:
        listed = ", ".join(f"{format_shape(spec.shape)} ({name})" for name, spec in items)
        raise ShapeError(f"inputs have shapes {listed}, which do not broadcast together", items[-1][0])
    out = items[0][1].with_shape(shape)
    _features(ctx, out)
    return out


def _count(ctx) -> int:
    out = _infer(ctx)
    size = 1
    for dim in _features(ctx, out):
        size *= dim
    return len(_formula(ctx).parameters) * size


def _build(ctx):
    from layerloom.catalog.formula_parser import FormulaModule

    return FormulaModule(_formula(ctx), _features(ctx, _infer(ctx)), ctx["initial_value"])


def specs():
    return [
        NodeSpec(
            "Formula", ACTIVATION,
            "A forward pass written as a formula over up to four inputs, with optional learnable parameters",
            inputs=formula_ports, params=PARAMS, infer=_infer, build=_build, count_params=_count,
            torch_name="torch.nn.Module",
        ),
    ]
