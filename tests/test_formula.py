"""Formula nodes: the same numbers as hand-written PyTorch, learnable parameters that train, hostile
or malformed text refused with the offending part named, shape errors keyed to the node, and the
node saved, loaded, compiled, traced and exported like a built-in one."""

from __future__ import annotations

import pytest
import torch
from torch import fx, nn

from layerloom import Graph, analyze, compile_graph, dumps_graph, load_graph, save_graph
from layerloom.core.errors import ParamError
from layerloom.catalog.formula_parser import FormulaError, FormulaModule, parse_formula
from layerloom.core.params import check_params
from layerloom.catalog.spec import default_catalog

SPEC = default_catalog()["Formula"]


def formula_graph(shapes=((4,),), **params) -> Graph:
    """Input(s) -> Formula "act" -> Output."""
    graph = Graph(name="formula net")
    graph.add_node("Formula", "act", {"inputs": len(shapes), **params}, node_id="act")
    for name, features in zip("xyzw", shapes):
        graph.add_node("Input", f"in_{name}", {"shape": list(features)}, node_id=f"in_{name}")
        graph.connect(f"in_{name}", "out", "act", name)
    graph.add_node("Output", "out", node_id="out")
    graph.connect("act", "out", "out", "in")
    return graph


def run(graph: Graph, *inputs: torch.Tensor, seed: int = 0) -> torch.Tensor:
    return compile_graph(graph, seed=seed).model(*inputs)


# ---------------------------------------------------------------- against hand-written torch
@pytest.mark.parametrize("expression, by_hand", [
    ("relu(x) - 0.1*x", lambda x: torch.relu(x) - 0.1 * x),
    ("x * sigmoid(1.702*x)", lambda x: x * torch.sigmoid(1.702 * x)),
    ("leaky_relu(x, 0.2) + clamp(x, -1, 1) ** 2", lambda x: nn.functional.leaky_relu(x, 0.2) + torch.clamp(x, -1, 1) ** 2),
    ("max(x, 0.5) - min(0, x) / sqrt(2)", lambda x: torch.clamp(x, min=0.5) - torch.clamp(x, max=0) / 2 ** 0.5),
    ("softplus(x) * tanh(gelu(x)) + silu(-x) + elu(x) * pi", lambda x: nn.functional.softplus(x) * torch.tanh(
        nn.functional.gelu(x)) + nn.functional.silu(-x) + nn.functional.elu(x) * torch.pi),
])
def test_a_formula_computes_what_the_same_torch_code_computes(expression, by_hand):
    x = torch.randn(5, 4)
    got = run(formula_graph(expression=expression), x)
    torch.testing.assert_close(got, by_hand(x), rtol=1e-6, atol=1e-6)


def test_two_inputs_broadcast_like_torch():
    graph = formula_graph(((3, 4), (1, 4)), expression="x + y")
    analysis = analyze(graph)
    assert analysis.ok, analysis.problems
    assert analysis.output_spec("act").shape == ("N", 3, 4)
    x, y = torch.randn(2, 3, 4), torch.randn(2, 1, 4)
    assert torch.equal(run(graph, x, y), x + y)


@pytest.mark.parametrize("shape_kind, size", [("scalar", ()), ("per_feature", (4,))])
def test_learnable_parameters_start_at_their_value_and_train_like_hand_written_ones(shape_kind, size):
    graph = formula_graph(expression="a*x + b", parameters="a, b", parameter_shape=shape_kind, initial_value=0.5)
    compiled = compile_graph(graph)
    assert analyze(graph).total_params == compiled.parameter_count() == 2 * (size[0] if size else 1)
    a, b = (nn.Parameter(torch.full(size, 0.5)) for _ in range(2))
    x, target = torch.randn(6, 4), torch.randn(6, 4)
    mine = torch.optim.SGD(compiled.model.parameters(), lr=0.1)
    theirs = torch.optim.SGD([a, b], lr=0.1)
    for optimizer, forward in ((mine, compiled.model), (theirs, lambda x: a * x + b)):
        optimizer.zero_grad()
        nn.functional.mse_loss(forward(x), target).backward()
        optimizer.step()
    state = compiled.model.state_dict()
    assert set(state) == {"act.a", "act.b"}
    assert not torch.equal(state["act.a"], torch.full(size, 0.5))  # one step moved it
    torch.testing.assert_close(state["act.a"], a.detach())
    torch.testing.assert_close(state["act.b"], b.detach())


def test_the_module_traces_with_fx_to_the_same_values():
    module = FormulaModule(parse_formula("a * relu(x) + y / 2", ("x", "y"), ("a",)), (3,), 2.0)
    traced = fx.symbolic_trace(module)
    x, y = torch.randn(2, 3), torch.randn(2, 3)
    assert torch.equal(traced(x, y), module(x, y))
    assert "torch.relu" in traced.code


def test_the_standalone_source_needs_only_torch_and_loads_the_same_weights():
    module = FormulaModule(parse_formula("a*x**2 - min(x, b) + exp(-abs(y))", ("x", "y"), ("a", "b")), (3,), 1.5)
    text = module.source_class("Act")
    assert "layerloom" not in text and "FormulaModule" not in text
    namespace = {"torch": torch, "nn": nn}
    exec(compile(text, "<generated>", "exec"), namespace)  # our generated code, not the user's text
    twin = namespace["Act"]()
    twin.load_state_dict(module.state_dict())
    x, y = torch.randn(4, 3), torch.randn(4, 3)
    torch.testing.assert_close(twin(x, y), module(x, y), rtol=0, atol=0)


# ---------------------------------------------------------------- refusals
@pytest.mark.parametrize("text, snippet, reason", [
    ("__import__('os')", "`__import__('os')`", "not a formula function"),
    ("relu(x) + x.__class__", "column 11: `x.__class__`", "attribute access"),
    ("(lambda: 1)()", "`(lambda: 1)()`", "only named functions"),
    ("[i for i in x]", "`[i for i in x]`", "comprehensions"),
    ("open('f')", "`open('f')`", "not a formula function"),
    ("x[0]", "`x[0]`", "indexing"),
    ("'s'", "`'s'`", "strings"),
    ("9**9**9", "column 4: `9**9`", "exponent"),
    ("2 ** x", "`x`", "exponent"),
    ("1e308*x", "`1e308`", "at most 1e+06"),
    ("x * 10000000", "`10000000`", "at most 1e+06"),
    ("relu(x=x)", "`relu(x=x)`", "keyword"),
    ("x if x else x", "`x if x else x`", "`if`/`else`"),
    ("x < 1", "`x < 1`", "comparisons"),
    ("x + q", "column 5: `q`", "unknown name 'q'"),
    ("relu(x, x)", "`relu(x, x)`", "takes 1 argument"),
    ("leaky_relu(x, x)", "`x`", "must be a constant"),
    ("log(0) * x", "`log(0)`", "no finite value"),
    ("x +", "column", "not a valid expression"),
    ("x" + " + x" * 3000, "12,001 characters", "at most 500"),
    ("relu(" * 40 + "x" + ")" * 40, "relu(relu(", "nested too deeply"),
    ("-" * 100 + "x", "column 33", "nested too deeply"),
])
def test_hostile_or_malformed_formulas_are_refused_naming_the_part(text, snippet, reason):
    with pytest.raises(FormulaError) as info:
        parse_formula(text, ("x",), ())
    assert snippet in str(info.value) and reason in str(info.value), str(info.value)


def test_a_refused_expression_is_a_problem_on_the_node_naming_the_param():
    for text in ("x.__class__", "__import__('os').system('true')", "x + q"):
        graph = formula_graph(expression="relu(x)")
        graph.node("act").params["expression"] = text  # as a hand-edited file would carry it
        problems = [p for p in analyze(graph).errors if p.node_id == "act"]
        assert [p.param for p in problems] == ["expression"], problems
        assert "act" in problems[0].describe()
    with pytest.raises(ParamError, match="column 1: `x.__class__`: attribute access"):
        SPEC.param("expression").coerce("x.__class__")


def test_declared_names_must_be_names_and_be_used():
    graph = formula_graph(expression="relu(x)", parameters="a")
    (problem,) = analyze(graph).errors
    assert problem.param == "expression" and "'a' is declared but not used" in problem.message
    for bad in ("1a", "x", "relu", "a, a", "training"):
        assert "parameters" in check_params(SPEC.params, {"parameters": bad}).errors, bad
    graph = formula_graph(((4,), (4,)), expression="relu(x)")
    (problem,) = analyze(graph).errors
    assert "input 'y' is not used" in problem.message


def test_inputs_that_do_not_broadcast_are_a_shape_problem_on_the_node():
    graph = formula_graph(((4,), (3,)), expression="x * y")
    (problem,) = analyze(graph).errors
    assert problem.node_id == "act" and problem.code == "shape" and problem.port == "y"
    assert "act" in problem.describe()
    assert "[N, 4] (x), [N, 3] (y)" in problem.message and "do not broadcast" in problem.message


# ---------------------------------------------------------------- files and export
def test_a_graph_with_a_formula_saves_loads_and_compiles_to_the_same_model(tmp_path):
    graph = formula_graph(((4,), (1,)), expression="a*x + b*relu(y) - 0.1*x", parameters="a, b",
                          parameter_shape="per_feature", initial_value=0.3)
    path = save_graph(graph, tmp_path / "formula.llgraph")
    loaded = load_graph(path)
    assert dumps_graph(loaded) == dumps_graph(graph)
    assert loaded.node("act").params["expression"] == "a*x + b*relu(y) - 0.1*x"
    x, y = torch.randn(3, 4), torch.randn(3, 1)
    assert torch.equal(run(loaded, x, y), run(graph, x, y))


def test_a_formula_exports_to_onnx_and_verifies(tmp_path):
    from layerloom.export import export_onnx, verify_onnx
    from layerloom.export.source import Exportable

    graph = formula_graph(((3, 4), (1, 4)), expression="a * x * sigmoid(1.702*x) + max(y, 0) ** 2 - b",
                          parameters="a, b", parameter_shape="per_feature", initial_value=0.7)
    exportable = Exportable(graph, compile_graph(graph, seed=0))
    exportable.model.eval()
    report = verify_onnx(export_onnx(exportable, tmp_path / "formula.onnx"), exportable, repeats=1)
    assert report.ok, report.describe()
