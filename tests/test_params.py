"""Typed params accept what they should and refuse everything else with a sentence."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from layerloom.core.errors import ParamError
from layerloom.core.params import (BoolParam, ChoiceParam, FloatParam, IntParam, IntsParam, ShapeParam, StrParam,
                            check_params)
from layerloom.catalog.spec import default_catalog

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=3),
    max_leaves=10,
)


@pytest.mark.parametrize("param,value,expected", [
    (IntParam("n", 1, minimum=1), 5, 5),
    (IntParam("n", 1, minimum=1), 5.0, 5),
    (FloatParam("p", 0.5, minimum=0, maximum=1), 1, 1.0),
    (BoolParam("b", True), False, False),
    (ChoiceParam("c", "a", choices=("a", "b")), "b", "b"),
    (IntsParam("k", 3, length=2, minimum=1), [3, 5], (3, 5)),
    (IntsParam("k", 3, length=2, minimum=1), 4, 4),
    (IntsParam("p", 0, length=2, minimum=0, keywords=("same",)), "same", "same"),
    (ShapeParam("s", (1,), min_rank=1), [1, 8, 8], (1, 8, 8)),
    (ShapeParam("s", (1,), allow_infer=True), [-1, 4], (-1, 4)),
    (StrParam("t", ""), "hello", "hello"),
    (IntParam("o", None, optional=True), None, None),
])
def test_accepts(param, value, expected):
    assert param.coerce(value) == expected


@pytest.mark.parametrize("param,value,message", [
    (IntParam("n", 1, minimum=1), 0, "at least 1"),
    (IntParam("n", 1, minimum=1), True, "whole number"),
    (IntParam("n", 1, minimum=1), 2.5, "whole number"),
    (IntParam("n", 1, minimum=1), "3", "whole number"),
    (IntParam("n", 1, minimum=1), 10**30, "at most"),
    (FloatParam("p", 0.5, minimum=0, maximum=1), 1.5, "at most 1"),
    (FloatParam("p", 0.5, minimum=0, exclusive_minimum=True), 0, "greater than 0"),
    (FloatParam("p", 0.5), math.inf, "finite"),
    (FloatParam("p", 0.5), False, "expected a number"),
    (BoolParam("b", True), 1, "true or false"),
    (ChoiceParam("c", "a", choices=("a", "b")), "z", "one of 'a', 'b'"),
    (ChoiceParam("c", "a", choices=("a", "b")), ["a"], "one of"),
    (IntsParam("k", 3, length=2, minimum=1), [3, 5, 7], "list of 2"),
    (IntsParam("k", 3, length=2, minimum=1), [3, 0], "at least 1"),
    (IntsParam("k", 3, length=2, minimum=1), "same", "whole number"),
    (ShapeParam("s", (1,), min_rank=1), [], "1 to 8 sizes"),
    (ShapeParam("s", (1,)), [0, 3], "at least 1"),
    (ShapeParam("s", (1,), allow_infer=True), [-1, -1], "only one size may be -1"),
    (ShapeParam("s", (1,)), [2**21, 2**21], "too many elements"),
    (ShapeParam("s", (1,)), {"a": 1}, "list of sizes"),
    (IntParam("n", 1), None, "required"),
    (StrParam("t", ""), 3, "text"),
])
def test_refuses_with_a_message(param, value, message):
    with pytest.raises(ParamError, match=message) as info:
        param.coerce(value)
    assert str(info.value).startswith(param.name + ":")


def test_check_params_defaults_errors_and_unknowns():
    spec = default_catalog()["Linear"]
    result = check_params(spec.params, {"out_features": -1, "colour": "red"})
    assert result.values == {"out_features": 64, "bias": True, "init": "default"}  # default kept in place
    assert set(result.errors) == {"out_features"}
    assert result.unknown == ("colour",)


@given(json_values)
def test_every_catalog_param_turns_any_json_into_a_value_or_a_param_error(value):
    for spec in default_catalog():
        for param in spec.params:
            try:
                result = param.coerce(value)
            except ParamError as exc:
                assert exc.param == param.name and exc.detail
                continue
            # Whatever is accepted must survive a JSON round trip unchanged.
            assert param.coerce(param.to_json(result)) == result


def test_every_default_is_valid_and_documented():
    for spec in default_catalog():
        for param in spec.params:
            assert param.coerce(param.default) == param.default or param.default is None, (spec.type_id, param.name)
            assert param.doc, f"{spec.type_id}.{param.name} has no doc line"
        assert spec.doc, spec.type_id


def test_numbers_too_large_for_a_float_are_refused_not_crashing():
    with pytest.raises(ParamError, match="far too large"):
        FloatParam("p", 0.5).coerce(10**400)
    with pytest.raises(ParamError, match="at most 2,147,483,647"):
        IntParam("n", 1).coerce(1e20)


def test_whole_floats_are_accepted_wherever_ints_are():
    assert ShapeParam("s", (1,)).coerce([8.0, 2]) == (8, 2)
    assert IntsParam("k", 3, length=2, minimum=1).coerce(3.0) == 3
    assert IntsParam("k", 3, length=2, minimum=1).coerce([3.0, 1]) == (3, 1)
    with pytest.raises(ParamError):
        ShapeParam("s", (1,)).coerce([8.5])
