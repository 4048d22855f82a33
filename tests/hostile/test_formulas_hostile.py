"""Hostile formulas (issue 15, items 1 and 3): a huge literal, a constant part beyond float32, deep nesting,
a parameter named like an ``nn.Module`` attribute. Each is refused where it is written, with the node and
the offending part named; nothing reaches a traceback, and whatever ``check`` accepts builds and generates
code."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from layerloom import analyze, compile_graph, load_graph
from layerloom.cli.main import main
from layerloom.catalog.formula_parser import MAX_LENGTH, FormulaError, parse_formula, parse_names
from layerloom.files.resources import example_path

HUGE = "1" + "0" * 400


def _formula_file(tmp_path, name="formula", **params):
    """digits_mlp with its first ReLU ("relu1") turned into a Formula with ``params``."""
    data = json.loads(example_path("digits_mlp").read_text(encoding="utf-8"))
    for node in data["nodes"]:
        if node["id"] == "relu1":
            node["type"], node["params"] = "Formula", params
    for edge in data["edges"]:
        if edge["to"][0] == "relu1":
            edge["to"][1] = "x"
    path = tmp_path / f"{name}.llgraph.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


# ---------------------------------------------------------------- numbers
@pytest.mark.parametrize("text, says", [
    (f"x*{HUGE}", "the number has 401 digits; numbers must be at most 1e+06"),
    (f"x*0x{'f' * 400}", "digits; numbers must be at most 1e+06"),
    (f"-{HUGE}*x", "numbers must be at most 1e+06"),
    ("x*1e999", "numbers must be at most 1e+06"),
    ("x*(1e6*1e6)**16", "beyond what float32 holds"),
    ("x*1e6**7", "beyond what float32 holds"),
    ("x*exp(exp(exp(exp(1))))", "no finite value"),
    ("x**10**10**10", "the exponent must be a number from -16 to 16"),
    ("x*(0**-1)", "no finite value"),
])
def test_a_constant_out_of_range_is_refused_and_named(text, says):
    with pytest.raises(FormulaError) as caught:
        parse_formula(text)
    assert says in str(caught.value)
    assert caught.value.column is not None and caught.value.snippet  # the offending literal is shown


@pytest.mark.parametrize("text, says", [
    ("-" * 400 + "x", "nested too deeply"),
    ("(" * 240 + "x" + ")" * 240, "not a valid expression"),  # Python's own parser limit (200)
    ("sin(" * 40 + "x" + ")" * 40, "nested too deeply"),
    ("x" + "+x" * 40, "nested too deeply"),
    ("x+" * 5000 + "x", f"at most {MAX_LENGTH}"),
])
def test_deep_or_long_formulas_are_refused_without_recursing(text, says):
    with pytest.raises(FormulaError, match=re.escape(says)):
        parse_formula(text)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet="xyab0123456789e.+-*/()_ ,", max_size=60)
       | st.lists(st.sampled_from(["x", "1e308", HUGE, "**", "*", "(", ")", "exp(", "-", "0x" + "f" * 30,
                                   "9" * 30, "1e-400", ",", "clamp(", "16", "."]), max_size=20).map("".join))
@example(f"x*{HUGE}")
@example(f"(x+1)*(-0x{'f' * 100})")
def test_any_text_is_either_a_formula_or_a_formula_error(text):
    try:
        formula = parse_formula(text, ("x", "y"), None)
    except FormulaError:
        return
    formula.python_source()  # a parsed formula always has a source form


def test_a_param_check_that_fails_in_itself_is_that_params_error():
    """A param spec's own bug (a plugin's, or a fault like the formula's OverflowError) is reported on the
    param, not raised out of analysis."""
    from layerloom.core.params import Param, check_params

    class Broken(Param):
        def _coerce(self, value):
            raise OverflowError("int too large to convert to float")

    checked = check_params([Broken("gain", 1)], {"gain": 10 ** 400})
    assert checked.values == {"gain": 1}
    assert "gain: cannot check 1000" in str(checked.errors["gain"]) and "OverflowError" in str(checked.errors["gain"])


def test_a_file_with_a_huge_literal_is_one_problem_on_its_node(tmp_path):
    path = _formula_file(tmp_path, expression=f"x*{HUGE}")
    analysis = analyze(load_graph(path))
    [problem] = analysis.errors
    text = problem.describe()
    assert 'Formula "relu1"' in text and "expression" in text and "401 digits" in text


@pytest.mark.parametrize("command", [["check"], ["code"]])
def test_the_cli_names_the_node_and_the_literal_without_a_traceback(tmp_path, capsys, command):
    path = _formula_file(tmp_path, expression=f"x*{HUGE}")
    assert main([*command, str(path)]) == 1
    out = capsys.readouterr()
    text = out.out + out.err
    assert "Traceback" not in text
    assert 'Formula "relu1"' in text and "10000000" in text and "401 digits" in text


# ---------------------------------------------------------------- parameter names
def test_every_attribute_of_a_torch_module_is_a_refused_parameter_name():
    """The list in layerloom.catalog.formula_parser is written out (parsing needs no torch); this proves it complete for
    the torch installed, so an upgrade adding module attributes fails here, not in a user's build."""
    from torch import nn

    from layerloom.catalog.formula_parser import MODULE_ATTRIBUTES, FormulaModule, is_module_attribute

    probe = FormulaModule(parse_formula("x"))
    attributes = {n for n in dir(probe) if re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,31}", n)}
    assert {n for n in attributes if not is_module_attribute(n)} == set()
    assert set(dir(nn.Module())) & {"xpu", "extra_repr", "forward", "cuda"} <= MODULE_ATTRIBUTES


@pytest.mark.parametrize("name", ["xpu", "extra_repr", "forward", "training", "cuda", "ipu", "mtia", "compile",
                                  "T_destination", "named_modules", "register_parameter", "get_submodule",
                                  "bfloat16", "formula", "parameter_shape", "source_class", "register_anything"])
def test_a_parameter_named_like_a_module_attribute_fails_check_naming_node_and_param(tmp_path, capsys, name):
    path = _formula_file(tmp_path, name, expression=f"x*{name}", parameters=name)
    with pytest.raises(FormulaError, match=re.escape(repr(name))):
        parse_names(name)
    analysis = analyze(load_graph(path))
    assert not analysis.ok
    text = analysis.errors[0].describe()
    assert 'Formula "relu1"' in text and "parameters" in text and repr(name) in text
    for command in ("check", "code"):
        assert main([command, str(path)]) == 1
        out = capsys.readouterr()
        assert "Traceback" not in out.out + out.err and repr(name) in out.out + out.err


@pytest.mark.parametrize("name", ["a", "scale", "bias_term", "xp", "trainable", "cuda_gain", "p_xpu", "to_"])
def test_an_accepted_parameter_name_checks_builds_and_generates_code(tmp_path, capsys, name):
    path = _formula_file(tmp_path, name, expression=f"x*{name} + 0.5", parameters=name)
    graph = load_graph(path)
    assert analyze(graph).ok, analyze(graph).problems
    compiled = compile_graph(graph, seed=0)
    assert f"relu1.{name}" in compiled.model.state_dict()
    assert main(["check", str(path)]) == 0
    capsys.readouterr()
    assert main(["code", str(path)]) == 0
    assert "Traceback" not in capsys.readouterr().err


def test_a_module_that_would_still_clash_at_build_says_which_parameter(monkeypatch):
    """A newer torch may add a module attribute that the list lacks: the build names the parameter."""
    from layerloom.catalog import formula_parser as formula_module
    from layerloom.catalog.formula_parser import FormulaModule

    monkeypatch.setattr(formula_module, "MODULE_ATTRIBUTES", frozenset())
    with pytest.raises(FormulaError, match="'cuda'.*rename the parameter"):
        FormulaModule(parse_formula("x*cuda", ("x",), ("cuda",)))


# ---------------------------------------------------------------- the editor's start-up
@pytest.fixture
def started(qtbot, tmp_path, monkeypatch):
    """Run ``layerloom FILE --screenshot`` in this process: the windows it made and the warnings it showed."""
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QMessageBox

    from layerloom.nodeeditor import app

    from layerloom.nodeeditor.window import main_window

    windows, shown = [], []

    class Window(main_window.EditorWindow):
        def __init__(self, settings=None):
            super().__init__(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
            qtbot.addWidget(self)
            windows.append(self)

    monkeypatch.setattr(main_window, "EditorWindow", Window)
    monkeypatch.setattr(QMessageBox, "warning", lambda *args: shown.append(args[2]))

    def start(path, status=0):
        assert app.main([str(path), "--screenshot", str(tmp_path / "shot.png")]) == status
        return windows[0], shown

    return start


@pytest.mark.gui
def test_the_editor_starts_on_a_file_with_a_huge_literal_and_marks_the_node(started, tmp_path):
    window, shown = started(_formula_file(tmp_path, expression=f"x*{HUGE}"))
    assert shown == []
    assert window.document.graph.node("relu1").type_id == "Formula"
    assert window.document.scene.item_for_node["relu1"].problem
    assert any("401 digits" in window.problems.item(i).text() for i in range(window.problems.count()))


@pytest.mark.gui
def test_an_unexpected_error_opening_the_start_up_file_is_a_message_not_an_exit(started, tmp_path, monkeypatch,
                                                                                capsys):
    from layerloom.nodeeditor.window import files

    def broken(path):
        raise RuntimeError("an unforeseen fault")

    monkeypatch.setattr(files, "load_graph", broken)   # the window opens files through window/files.py
    path = _formula_file(tmp_path)
    window, shown = started(path, status=1)   # --screenshot: said on stderr, no box waits for a click
    err = capsys.readouterr().err
    assert shown == [] and str(path) in err and "an unforeseen fault" in err
    assert window.document is not None and len(window.document.graph.nodes) == 0  # an empty graph to work on
