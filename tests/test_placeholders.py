"""Every field's placeholder is an example value, never a type name: the runtime gives each param an
example it accepts (``Param.example_text``), and every line edit the inspector and the training form
build shows it ("e.g. a, b", "e.g. label", "e.g. [1, 28, 28]")."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QLineEdit

from layerloom import load_graph
from layerloom.catalog.spec import default_catalog
from layerloom.core.params import (BoolParam, ChoiceParam, FloatParam, IntParam, IntsParam, Param, ShapeParam,
                                   StrParam)
from layerloom.data import DATASET_PARAMS
from layerloom.files.resources import example_path
from layerloom.training.config import EARLY_STOPPING_PARAMS, OPTIMIZER_PARAMS, SCHEDULE_PARAMS, TOP_PARAMS

TYPE_WORDS = {"str", "int", "float", "ints", "shape", "bool", "choice", "any", "text", "number", "list"}
FORM_PARAMS = {"training": TOP_PARAMS, "optimizer": OPTIMIZER_PARAMS, "schedule": SCHEDULE_PARAMS,
               "early_stopping": EARLY_STOPPING_PARAMS, "dataset": DATASET_PARAMS}


def _all_params() -> list[tuple[str, Param]]:
    found = [(f"{spec.type_id}.{p.name}", p) for spec in default_catalog() for p in spec.params]
    found += [(f"{section}.{p.name}", p) for section, params in FORM_PARAMS.items() for p in params]
    return found


TYPED = [(where, p) for where, p in _all_params() if not isinstance(p, (BoolParam, ChoiceParam))]


def _empty_able(param: Param) -> bool:
    """Whether an empty field is a value the param takes (optional, or text that may be empty)."""
    from layerloom.nodeeditor.panels.param_editors import parse_text

    try:
        param.coerce(parse_text(param, ""))
    except Exception:  # noqa: BLE001 - refused: the field cannot stay empty
        return False
    return True


def _looks_like_a_type(text: str) -> bool:
    words = text.lower().replace("e.g.", "").replace("(", " ").replace(")", " ").split()
    return bool(words) and all(w in TYPE_WORDS for w in words) or text.lower() in TYPE_WORDS


# ------------------------------------------------------------------------------------ the runtime
@pytest.mark.parametrize("where, param", TYPED, ids=[w for w, _ in TYPED])
def test_each_example_is_a_value_the_param_accepts(where, param):
    from layerloom.nodeeditor.panels.param_editors import parse_text

    text = param.example_text()
    assert not _looks_like_a_type(text), f"{where}: {text!r}"
    if text:
        param.coerce(parse_text(param, text))   # raises when the example is refused


@pytest.mark.parametrize("where, param", [(w, p) for w, p in TYPED if _empty_able(p)],
                         ids=[w for w, p in TYPED if _empty_able(p)])
def test_every_field_that_may_stay_empty_has_an_example(where, param):
    text = param.example_text()
    assert text, f"{where} may be empty and suggests nothing"
    assert param.coerce(param.example_value()) is not None


def test_the_examples_named_in_the_issue():
    catalog = default_catalog()
    by_name = {p.name: p for p in DATASET_PARAMS}
    assert catalog.get("Formula").param("parameters").example_text() == "a, b"
    assert by_name["target_column"].example_text() == "label"
    assert catalog.get("Input").param("shape").example_text() == "[1, 28, 28]"
    assert by_name["image_size"].example_text() == "[28, 28]"


@pytest.mark.parametrize("param, text", [
    (IntParam("n", None, optional=True, minimum=4), "4"),
    (IntParam("n", 7), "7"),
    (FloatParam("x", None, optional=True, minimum=0.0, maximum=1.0), "0.1"),
    (IntsParam("k", None, optional=True, length=2, minimum=1), "[1, 1]"),
    (ShapeParam("s", None, optional=True, min_rank=2, max_rank=2), "[28, 28]"),
    (StrParam("t", "", example="hello"), "hello"),
    (StrParam("t", ""), ""),                           # free text with no example: no placeholder at all
    (IntParam("n", None, optional=True, example=3), "3"),
])
def test_examples_derived_from_defaults_and_ranges(param, text):
    assert param.example_text() == text


# ------------------------------------------------------------------------------------ the editors
@pytest.mark.gui
@pytest.mark.parametrize("where, param", TYPED, ids=[w for w, _ in TYPED])
def test_every_generated_line_edit_shows_an_example(qtbot, where, param):
    from layerloom.nodeeditor.panels.param_editors import param_editor

    for value in [param.to_json(param.default)] + ([None] if param.optional else []):
        editor = param_editor(param, value, lambda v: None)
        qtbot.addWidget(editor)
        if isinstance(editor, QLineEdit):
            text = editor.placeholderText()
            assert not _looks_like_a_type(text), f"{where}: {text!r}"
            if _empty_able(param):
                assert text.startswith("e.g. ") and len(text) > 5, f"{where}: {text!r}"


@pytest.mark.gui
def test_the_inspector_of_every_node_type_shows_no_type_name(qtbot):
    from layerloom.nodeeditor.document.document import Document
    from layerloom.nodeeditor.panels.inspector import Inspector

    graph = load_graph(example_path("digits_mlp"))
    ids = {}
    for spec in default_catalog():
        node = graph.add_node(spec.type_id, check=False)
        ids[spec.type_id] = node.id
    document = Document(graph)
    inspector = Inspector()
    qtbot.addWidget(inspector)
    inspector.set_document(document)
    seen = 0
    try:
        for type_id, node_id in ids.items():
            inspector.show_node(document, node_id)
            for edit in inspector.findChildren(QLineEdit):
                if edit.parent() is None or edit.objectName() == "qt_spinbox_lineedit":
                    continue
                seen += 1
                assert not _looks_like_a_type(edit.placeholderText()), f"{type_id}: {edit.placeholderText()!r}"
        formula = ids["Formula"]
        inspector.show_node(document, formula)
        assert inspector.editors["parameters"].placeholderText() == "e.g. a, b"
    finally:
        document.close()
    assert seen > len(ids)


@pytest.mark.gui
def test_the_training_form_shows_examples(qtbot):
    from layerloom.nodeeditor.document.document import Document
    from layerloom.nodeeditor.panels.training_panel import TrainingPanel

    panel = TrainingPanel()
    qtbot.addWidget(panel)
    document = Document(load_graph(example_path("digits_mlp")))
    panel.set_document(document)
    try:
        edits = [e for e in panel.findChildren(QLineEdit) if e.objectName() != "qt_spinbox_lineedit"]
        assert edits
        for edit in edits:
            assert not _looks_like_a_type(edit.placeholderText()), edit.placeholderText()
        assert panel.fields.editors["dataset.target_column"].placeholderText() == "e.g. label"
        assert panel.fields.editors["dataset.path"].placeholderText() == "e.g. data/train.csv"
        assert panel.fields.editors["dataset.image_size"].placeholderText() == "e.g. [28, 28]"
    finally:
        document.close()
