"""Formulas: a node's forward written as an expression, e.g. ``relu(x) - 0.1*x``.

``parse_formula`` reads the text with ``ast.parse(mode="eval")`` and accepts only a whitelist:
numbers of bounded size, the declared inputs and learnable parameters, ``pi`` and ``e``, ``+ - * /``,
``**`` with a small constant exponent, and calls to elementwise functions (``FUNCTIONS``). Anything
else is refused with a ``FormulaError`` naming the column and the offending text. Constant parts are
folded with plain floats here, so parsing needs no PyTorch.

The user's text is never run: ``Formula.evaluator()`` turns the checked tree into nested closures over
torch functions once, when the module is built, and ``FormulaModule`` calls them in ``forward``.
"""

from __future__ import annotations

import ast
import keyword
import math
import operator
import re
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from layerloom.core.errors import LayerLoomError

MAX_LENGTH = 500        # characters of formula text
MAX_DEPTH = 32          # nesting of operators and calls
MAX_NUMBER = 1e6        # largest literal magnitude
MAX_CONSTANT = 3.4e38   # largest folded constant: what a float32 tensor can hold
MAX_EXPONENT = 16       # largest |p| in ``a ** p``
MAX_PARAMETERS = 8
INPUT_NAMES = ("x", "y", "z", "w")
CONSTANTS = {"pi": math.pi, "e": math.e}
# Attributes of a FormulaModule (every nn.Module's, as of torch 2.13, and its own): a learnable parameter
# is an attribute too, so it must not take one of these names (``register_parameter`` would refuse it at
# build time). tests/hostile/test_formulas_hostile.py checks the list against the installed torch.
MODULE_ATTRIBUTES = frozenset({
    "T_destination", "add_module", "apply", "bfloat16", "buffers", "call_super_init", "children", "compile",
    "cpu", "cuda", "double", "dump_patches", "eval", "extra_repr", "float", "forward", "get_buffer",
    "get_extra_state", "get_parameter", "get_submodule", "half", "ipu", "load_state_dict", "modules", "mtia",
    "named_buffers", "named_children", "named_modules", "named_parameters", "parameters",
    "register_backward_hook", "register_buffer", "register_forward_hook", "register_forward_pre_hook",
    "register_full_backward_hook", "register_full_backward_pre_hook", "register_module", "register_parameter",
    "register_state_dict_post_hook", "register_state_dict_pre_hook", "requires_grad_", "set_extra_state",
    "set_submodule", "share_memory", "state_dict", "to", "to_empty", "train", "training", "type", "xpu",
    "zero_grad",
    # FormulaModule's own
    "formula", "parameter_shape", "source_class", "evaluate",
})
# Families of nn.Module methods (newer torch versions add more of them): refused as a whole.
_MODULE_PREFIXES = ("register_", "named_", "get_", "set_")


class FormulaError(LayerLoomError):
    """A formula that cannot be accepted; ``column`` (1-based) and ``snippet`` locate the offending part."""

    def __init__(self, message: str, column: int | None = None, snippet: str | None = None):
        self.detail = message
        self.column = column
        self.snippet = snippet
        where = ""
        if column is not None:
            where = f"column {column}: "
        if snippet:
            where += f"`{snippet}`: "
        super().__init__(where + message)


# ---------------------------------------------------------------------- the checked tree
@dataclass(frozen=True)
class Const:
    value: float


@dataclass(frozen=True)
class Var:
    name: str
    learnable: bool  # a declared parameter (else an input)


@dataclass(frozen=True)
class Call:
    fn: str           # a key of OPERATIONS
    args: tuple


def _sigmoid(v: float) -> float:
    return 1 / (1 + math.exp(-v)) if v >= 0 else math.exp(v) / (1 + math.exp(v))


def _softplus(v: float) -> float:
    return v if v > 20 else math.log1p(math.exp(v))


@dataclass(frozen=True)
class Operation:
    arity: int
    fold: Callable[..., float]          # on floats (constant folding)
    source: str                          # torch-only Python, ``{0}``, ``{1}``... for the arguments
    constant_args: tuple[int, ...] = ()  # argument positions that must be constant numbers


# Elementwise functions users may call, and the operators. ``source`` is also what the evaluator
# runs: the same torch function, looked up once at build time.
FUNCTIONS: dict[str, Operation] = {
    "relu": Operation(1, lambda v: max(v, 0.0), "torch.relu({0})"),
    "sigmoid": Operation(1, _sigmoid, "torch.sigmoid({0})"),
    "tanh": Operation(1, math.tanh, "torch.tanh({0})"),
    "exp": Operation(1, math.exp, "torch.exp({0})"),
    "log": Operation(1, math.log, "torch.log({0})"),
    "sqrt": Operation(1, math.sqrt, "torch.sqrt({0})"),
    "abs": Operation(1, abs, "torch.abs({0})"),
    "sin": Operation(1, math.sin, "torch.sin({0})"),
    "cos": Operation(1, math.cos, "torch.cos({0})"),
    "softplus": Operation(1, _softplus, "torch.nn.functional.softplus({0})"),
    "gelu": Operation(1, lambda v: 0.5 * v * (1 + math.erf(v / math.sqrt(2))), "torch.nn.functional.gelu({0})"),
    "silu": Operation(1, lambda v: v * _sigmoid(v), "torch.nn.functional.silu({0})"),
    "elu": Operation(1, lambda v: v if v > 0 else math.expm1(v), "torch.nn.functional.elu({0})"),
    "leaky_relu": Operation(2, lambda v, s: v if v > 0 else v * s, "torch.nn.functional.leaky_relu({0}, {1})", (1,)),
    "clamp": Operation(3, lambda v, lo, hi: min(max(v, lo), hi), "torch.clamp({0}, {1}, {2})", (1, 2)),
    "min": Operation(2, min, "torch.minimum({0}, {1})"),
    "max": Operation(2, max, "torch.maximum({0}, {1})"),
}
OPERATORS: dict[str, Operation] = {
    "add": Operation(2, lambda a, b: a + b, "{0} + {1}"),
    "sub": Operation(2, lambda a, b: a - b, "{0} - {1}"),
    "mul": Operation(2, lambda a, b: a * b, "{0} * {1}"),
    "div": Operation(2, lambda a, b: a / b, "{0} / {1}"),
    "pow": Operation(2, lambda a, b: a ** b, "{0} ** {1}", (1,)),
    "neg": Operation(1, lambda a: -a, "-{0}"),
}
OPERATIONS = {**FUNCTIONS, **OPERATORS}
_BINARY = {ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "div", ast.Pow: "pow"}
_REFUSED = {
    ast.Attribute: "attribute access is not allowed",
    ast.Subscript: "indexing is not allowed; formulas are elementwise",
    ast.Lambda: "lambdas are not allowed",
    ast.ListComp: "comprehensions are not allowed", ast.SetComp: "comprehensions are not allowed",
    ast.DictComp: "comprehensions are not allowed", ast.GeneratorExp: "comprehensions are not allowed",
    ast.List: "lists are not allowed", ast.Tuple: "tuples are not allowed", ast.Dict: "dicts are not allowed",
    ast.Set: "sets are not allowed", ast.Compare: "comparisons are not allowed",
    ast.BoolOp: "`and`/`or` are not allowed", ast.IfExp: "`if`/`else` is not allowed",
    ast.NamedExpr: "assignments are not allowed", ast.JoinedStr: "strings are not allowed",
    ast.Await: "`await` is not allowed", ast.Yield: "`yield` is not allowed", ast.Starred: "`*` is not allowed",
}


@dataclass(frozen=True)
class Formula:
    """A checked formula: its text, the input and parameter names it may use, and the folded tree."""

    text: str
    inputs: tuple[str, ...]
    parameters: tuple[str, ...]
    tree: Any  # Const | Var | Call

    def names_used(self) -> set[str]:
        found: set[str] = set()
        stack = [self.tree]
        while stack:
            node = stack.pop()
            if isinstance(node, Var):
                found.add(node.name)
            elif isinstance(node, Call):
                stack.extend(node.args)
        return found

    def python_source(self, parameter_prefix: str = "self.") -> str:
        """The formula as Python that needs only ``torch`` (learnable names read as ``self.a``)."""
        return _source(self.tree, parameter_prefix, top=True)

    def evaluator(self) -> Callable[[dict], Any]:
        """``f(values)``: the formula over a dict of name -> tensor. Imports torch."""
        import torch

        return _closure(self.tree, torch)


def parse_formula(text: str, inputs: Sequence[str] = ("x",), parameters: Sequence[str] | None = ()) -> Formula:
    """Check ``text`` against the whitelist; raises ``FormulaError`` pointing at the offending part.

    ``parameters=None`` checks the form only: any other plain name is taken for a learnable parameter
    (a param's own check, before the node's declared names are known)."""
    if not isinstance(text, str):
        raise FormulaError(f"expected text, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise FormulaError(f"the formula is {len(text):,} characters long; at most {MAX_LENGTH} are allowed")
    if not text.strip():
        raise FormulaError("the formula is empty")
    try:
        with warnings.catch_warnings():  # "invalid decimal literal" and the like: the error says it better
            warnings.simplefilter("ignore")
            expression = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        column = max(exc.offset or 1, 1) if exc.lineno in (None, 1) else None
        raise FormulaError(f"not a valid expression ({exc.msg})", column) from None
    except (ValueError, RecursionError, MemoryError) as exc:
        raise FormulaError(f"not a valid expression ({exc})") from None
    checker = _Checker(text.strip(), tuple(inputs), None if parameters is None else tuple(parameters))
    tree = checker.visit(expression.body, 1)
    return Formula(text, tuple(inputs), tuple(checker.parameters), tree)


def parse_names(text: str, inputs: Sequence[str] = INPUT_NAMES) -> tuple[str, ...]:
    """The learnable parameter names in ``"a, b"``; raises ``FormulaError`` for a name that cannot be one."""
    names = [part.strip() for part in text.split(",")] if text.strip() else []
    result: list[str] = []
    for name in names:
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,31}", name):
            raise FormulaError(f"{name!r} is not a name (a letter, then letters, digits or _; at most 32)")
        if keyword.iskeyword(name):
            raise FormulaError(f"{name!r} is a Python keyword; choose another name")
        if is_module_attribute(name):
            what = ("is the name of an attribute of every PyTorch module" if name in MODULE_ATTRIBUTES else
                    f"starts like PyTorch module methods ({', '.join(_MODULE_PREFIXES)})")
            suggestion = "p_" + name if len(name) <= 30 else "p"
            raise FormulaError(f"{name!r} {what}, and a learnable parameter becomes an attribute of its module; "
                               f"choose another name, e.g. {suggestion!r}")
        if name in inputs:
            raise FormulaError(f"{name!r} names an input ({', '.join(inputs)} are the inputs)")
        if name in FUNCTIONS or name in CONSTANTS:
            raise FormulaError(f"{name!r} is a function or constant of formulas")
        if name in result:
            raise FormulaError(f"{name!r} is declared twice")
        result.append(name)
    if len(result) > MAX_PARAMETERS:
        raise FormulaError(f"{len(result)} parameters declared; at most {MAX_PARAMETERS}")
    return tuple(result)


def is_module_attribute(name: str) -> bool:
    """True when a learnable parameter called ``name`` would clash with an attribute of the module."""
    return name in MODULE_ATTRIBUTES or name.startswith(_MODULE_PREFIXES)


# ---------------------------------------------------------------------- checking
class _Checker:
    def __init__(self, text: str, inputs: tuple[str, ...], parameters: tuple[str, ...] | None):
        self.text = text
        self.inputs = inputs
        self.open = parameters is None  # any other name is a parameter
        self.parameters = list(parameters or ())

    def fail(self, node: ast.AST, message: str) -> FormulaError:
        snippet = ast.get_source_segment(self.text, node) or ""
        if len(snippet) > 40:
            snippet = snippet[:37] + "..."
        line = self.text.splitlines()[node.lineno - 1] if self.text else ""
        column = len(line.encode("utf-8")[:node.col_offset].decode("utf-8", "replace")) + 1
        return FormulaError(message, column, snippet)

    def visit(self, node: ast.AST, depth: int):
        if depth > MAX_DEPTH:
            raise self.fail(node, f"nested too deeply (more than {MAX_DEPTH} levels)")
        if isinstance(node, ast.Constant):
            return self.constant(node)
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.USub):
                return self.combine(node, "neg", [self.visit(node.operand, depth + 1)])
            if isinstance(node.op, ast.UAdd):
                return self.visit(node.operand, depth + 1)
            raise self.fail(node, "only unary `-` and `+` are allowed")
        if isinstance(node, ast.BinOp):
            op = _BINARY.get(type(node.op))
            if op is None:
                raise self.fail(node, "only `+ - * / **` are allowed")
            left = self.visit(node.left, depth + 1)
            right = self.visit(node.right, depth + 1)
            if op == "pow":
                self.check_exponent(node.right, right)
            return self.combine(node, op, [left, right])
        if isinstance(node, ast.Call):
            return self.call(node, depth)
        raise self.fail(node, _REFUSED.get(type(node), f"{type(node).__name__} is not allowed in a formula"))

    def constant(self, node: ast.Constant) -> Const:
        value = node.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            kind = "strings" if isinstance(value, (str, bytes)) else f"{type(value).__name__} values"
            raise self.fail(node, f"{kind} are not allowed; only numbers")
        # compared before any float(): float() of a 400-digit int literal raises OverflowError
        if abs(value) > MAX_NUMBER or (isinstance(value, float) and not math.isfinite(value)):
            digits = f"the number has {len(str(abs(value))):,} digits; " if isinstance(value, int) else ""
            raise self.fail(node, f"{digits}numbers must be at most {MAX_NUMBER:g} in size")
        return Const(float(value))

    def name(self, node: ast.Name):
        if node.id in self.inputs:
            return Var(node.id, False)
        if node.id in self.parameters:
            return Var(node.id, True)
        if node.id in CONSTANTS:
            return Const(CONSTANTS[node.id])
        if node.id in FUNCTIONS:
            raise self.fail(node, f"{node.id} is a function; call it, e.g. {node.id}(x)")
        if self.open and node.id not in INPUT_NAMES and not node.id.startswith("_"):
            self.parameters.append(node.id)
            return Var(node.id, True)
        known = ", ".join(self.inputs + tuple(self.parameters))
        hint = "" if node.id in INPUT_NAMES else "; declare learnable names in `parameters`"
        raise self.fail(node, f"unknown name {node.id!r} (known: {known}, pi, e){hint}")

    def call(self, node: ast.Call, depth: int):
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            func = node.func.id if isinstance(node.func, ast.Name) else None
            what = f"{func!r} is not a formula function" if func else "only named functions may be called"
            raise self.fail(node, f"{what}; allowed: {', '.join(FUNCTIONS)}")
        if node.keywords:
            raise self.fail(node, "keyword arguments are not allowed")
        op = FUNCTIONS[node.func.id]
        if len(node.args) != op.arity:
            raise self.fail(node, f"{node.func.id} takes {op.arity} argument{'s' if op.arity > 1 else ''}, "
                            f"got {len(node.args)}")
        args = [self.visit(arg, depth + 1) for arg in node.args]
        for i in op.constant_args:
            if not isinstance(args[i], Const):
                raise self.fail(node.args[i], f"argument {i + 1} of {node.func.id} must be a constant number")
        if node.func.id == "clamp" and args[1].value > args[2].value:
            raise self.fail(node, "clamp's lower bound is above its upper bound")
        return self.combine(node, node.func.id, args)

    def check_exponent(self, node: ast.AST, value) -> None:
        if not isinstance(value, Const) or abs(value.value) > MAX_EXPONENT:
            raise self.fail(node, f"the exponent must be a number from -{MAX_EXPONENT} to {MAX_EXPONENT}")

    def combine(self, node: ast.AST, fn: str, args: list):
        """A Call, or its value when every argument is a constant (refused when not finite)."""
        if not all(isinstance(a, Const) for a in args):
            return Call(fn, tuple(args))
        try:
            value = OPERATIONS[fn].fold(*(a.value for a in args))
        except (ArithmeticError, ValueError):
            value = math.nan
        if isinstance(value, complex) or not math.isfinite(value):
            raise self.fail(node, "this constant part has no finite value")
        if abs(value) > MAX_CONSTANT:
            raise self.fail(node, f"this constant part is {value:.3g}, beyond what float32 holds "
                            f"(at most {MAX_CONSTANT:g})")
        return Const(float(value))


# ---------------------------------------------------------------------- source and evaluation
_PYTHON_OPERATORS = {"add": operator.add, "sub": operator.sub, "mul": operator.mul, "div": operator.truediv,
                     "pow": operator.pow, "neg": operator.neg}


def _source(node, prefix: str, top: bool = False) -> str:
    if isinstance(node, Const):
        return repr(node.value)
    if isinstance(node, Var):
        return prefix + node.name if node.learnable else node.name
    args = [_source(a, prefix, top=node.fn in FUNCTIONS) for a in node.args]
    if node.fn in ("min", "max") and any(isinstance(a, Const) for a in node.args):
        bound = "max" if node.fn == "min" else "min"
        tensor, constant = (args[1], args[0]) if isinstance(node.args[0], Const) else (args[0], args[1])
        return f"torch.clamp({tensor}, {bound}={constant})"
    text = OPERATIONS[node.fn].source.format(*args)
    return text if top or node.fn in FUNCTIONS else f"({text})"


def _closure(node, torch) -> Callable[[dict], Any]:
    if isinstance(node, Const):
        value = node.value
        return lambda values: value
    if isinstance(node, Var):
        name = node.name
        return lambda values: values[name]
    args = [_closure(a, torch) for a in node.args]
    fn = node.fn
    if fn in OPERATORS:
        op = _PYTHON_OPERATORS[fn]
    elif fn in ("min", "max"):
        op = _min_max(torch, fn, [isinstance(a, Const) for a in node.args])
    else:
        op = _torch_function(torch, FUNCTIONS[fn].source)
    if len(args) == 1:
        (a,) = args
        return lambda values: op(a(values))
    if len(args) == 2:
        a, b = args
        return lambda values: op(a(values), b(values))
    return lambda values: op(*(arg(values) for arg in args))


def _torch_function(torch, source: str):
    """``torch.relu`` for ``"torch.relu({0})"``: a dotted path under torch, resolved by attribute lookup."""
    path = source.split("(", 1)[0].split(".")[1:]
    target = torch
    for part in path:
        target = getattr(target, part)
    return target


def _min_max(torch, fn: str, constant: list[bool]):
    """torch.minimum/maximum need two tensors; with a constant side they become a clamp."""
    bound = "max" if fn == "min" else "min"
    if constant[0]:
        return lambda c, t: torch.clamp(t, **{bound: c})
    if constant[1]:
        return lambda t, c: torch.clamp(t, **{bound: c})
    return torch.minimum if fn == "min" else torch.maximum


# ---------------------------------------------------------------------- the module
def __getattr__(name: str):
    """``FormulaModule`` is defined on first use, so parsing and validating formulas need no PyTorch."""
    if name == "FormulaModule":
        cls = _define_module()
        globals()["FormulaModule"] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _define_module():
    import torch
    from torch import nn

    class FormulaModule(nn.Module):
        """Evaluates a checked ``Formula`` over up to four inputs (``x, y, z, w``); each learnable name
        is an ``nn.Parameter`` attribute of ``parameter_shape`` (``()`` or ``(features,)``)."""

        def __init__(self, formula: Formula, parameter_shape: tuple[int, ...] = (), initial_value: float = 1.0):
            super().__init__()
            self.formula = formula
            self.parameter_shape = tuple(parameter_shape)
            for name in formula.parameters:
                if hasattr(self, name):  # parse_names refuses these; a newer torch may add attributes
                    raise FormulaError(f"the parameter name {name!r} is taken by an attribute of PyTorch modules; "
                                       "rename the parameter")
                self.register_parameter(name, nn.Parameter(torch.full(self.parameter_shape, float(initial_value))))
            self._evaluate = formula.evaluator()

        def forward(self, x, y=None, z=None, w=None):
            values = dict(zip(self.formula.inputs, (x, y, z, w)))
            for name in self.formula.parameters:
                values[name] = getattr(self, name)
            return self._evaluate(values)

        def extra_repr(self) -> str:
            return repr(self.formula.text)

        def source_class(self, class_name: str) -> str:
            """A standalone class (needs only ``torch``/``nn``) with the same state-dict keys and outputs."""
            arguments = ", ".join(("self",) + self.formula.inputs)
            lines = [f"class {class_name}(nn.Module):", f'    """{_docstring(self.formula.text)}"""', "",
                     "    def __init__(self):", "        super().__init__()"]
            for name in self.formula.parameters:
                lines.append(f"        self.{name} = nn.Parameter(torch.zeros({self.parameter_shape!r}))")
            if not self.formula.parameters:
                lines.append("        pass")
            lines += ["", f"    def forward({arguments}):", f"        return {self.formula.python_source()}"]
            return "\n".join(lines) + "\n"

    FormulaModule.__module__ = __name__
    return FormulaModule


def _docstring(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"').replace("\n", " ")
