"""Typed node parameters: defaults, ranges, choices, a one-line doc and an example value.

A param spec turns any JSON value into a checked Python value (``coerce``) or raises ``ParamError``
with a sentence a user understands, and turns a checked value back into a JSON literal (``to_json``).
The inspector builds its editors from these specs; nothing computes from a widget. ``example_text()``
is what an empty field shows as its placeholder: the spec's ``example`` (a value it accepts, e.g.
``StrParam("target_column", None, ..., example="label")``) or one derived from its default and range,
never a type name; empty when no sensible value is known (a free-text param without an example).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

from layerloom.core.errors import ParamError

_MISSING = object()
_MAX_INT = 2**31 - 1  # bigger sizes are always a typo, and would make torch allocate forever


def _whole(value: Any) -> int | None:
    """``value`` as an int when it is a whole number (``8`` or ``8.0``), else None."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


@dataclass(frozen=True)
class Param:
    """Base class. ``optional`` params also accept ``None`` (JSON ``null``)."""

    name: str
    default: Any
    doc: str = ""
    optional: bool = False
    example: Any = field(default=None, kw_only=True)   # a value an empty field suggests (its placeholder)

    kind = "any"

    def coerce(self, value: Any) -> Any:
        if value is None:
            if self.optional:
                return None
            raise ParamError(self.name, "a value is required")
        return self._coerce(value)

    def _coerce(self, value: Any) -> Any:  # pragma: no cover - overridden
        return value

    def to_json(self, value: Any) -> Any:
        return value

    def fail(self, message: str) -> ParamError:
        return ParamError(self.name, message)

    def describe(self) -> str:
        """What the param accepts, in a user's words (tooltips, Help's node pages, ``layerloom-cli nodes``):
        "whole number from 1 to 4", "text, e.g. a, b"; never a type name."""
        return "any value"

    def example_value(self) -> Any:
        """A value this param accepts, to suggest: the spec's ``example``, else one derived from the
        default and range (None when none is known)."""
        return self.example if self.example is not None else self._derived_example()

    def _derived_example(self) -> Any:
        return None if self.default in (None, "") else self.to_json(self.default)

    def example_text(self) -> str:
        """The example as a user would type it (``[1, 28, 28]``, ``a, b``, ``0.01``); empty when none."""
        return example_text(self.example_value())

    def field_text(self, value: Any) -> str:
        """``value`` as a text field shows it (and reads it back): lists comma-separated, None empty."""
        if isinstance(value, (list, tuple)):
            return ", ".join(str(v) for v in value)
        return "" if value is None else str(value)


@dataclass(frozen=True)
class IntParam(Param):
    minimum: int | None = None
    maximum: int | None = _MAX_INT

    kind = "int"

    def _coerce(self, value: Any) -> int:
        whole = _whole(value)
        if whole is None:
            raise self.fail(f"expected a whole number, got {_describe(value)}")
        _check_range(self, whole)
        return whole

    def describe(self) -> str:
        return "whole number" + _range_text(self.minimum, self.maximum)

    def _derived_example(self) -> Any:
        if self.default is not None:
            return self.default
        return max(1, self.minimum) if self.minimum is not None else 1


@dataclass(frozen=True)
class FloatParam(Param):
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False

    kind = "float"

    def _coerce(self, value: Any) -> float:
        if not _is_number(value):
            raise self.fail(f"expected a number, got {_describe(value)}")
        try:
            value = float(value)
        except OverflowError:
            raise self.fail(f"the number {_describe(value)} is far too large") from None
        if not math.isfinite(value):
            raise self.fail(f"expected a finite number, got {value}")
        if self.exclusive_minimum and self.minimum is not None and value <= self.minimum:
            raise self.fail(f"must be greater than {_num(self.minimum)}, got {_num(value)}")
        _check_range(self, value)
        return value

    def describe(self) -> str:
        if self.exclusive_minimum and self.minimum is not None:
            upper = _range_text(None, self.maximum)
            return f"number > {_num(self.minimum)}" + (f" and{upper}" if upper else "")
        return "number" + _range_text(self.minimum, self.maximum)

    def _derived_example(self) -> Any:
        if self.default is not None:
            return self.default
        low = self.minimum if self.minimum is not None else 0.0
        high = self.maximum if self.maximum is not None else low + 1.0
        return low + (high - low) / 10 if high > low else low


@dataclass(frozen=True)
class BoolParam(Param):
    kind = "bool"

    def describe(self) -> str:
        return "true or false"

    def _coerce(self, value: Any) -> bool:
        if not isinstance(value, bool):
            raise self.fail(f"expected true or false, got {_describe(value)}")
        return value


@dataclass(frozen=True)
class ChoiceParam(Param):
    choices: tuple = ()

    kind = "choice"

    def _coerce(self, value: Any) -> Any:
        if isinstance(value, (list, dict)) or value not in self.choices:
            options = ", ".join(repr(c) for c in self.choices)
            raise self.fail(f"expected one of {options}, got {_describe(value)}")
        return value

    def describe(self) -> str:
        return "one of " + ", ".join(str(c) for c in self.choices)


@dataclass(frozen=True)
class IntsParam(Param):
    """An int, or a list of ``length`` ints (``kernel_size=3`` or ``[3, 5]``), each in range.

    The user's form is kept: an int stays an int, a list becomes a tuple. ``expand`` gives the tuple.
    """

    length: int = 2
    minimum: int | None = None
    maximum: int | None = _MAX_INT
    keywords: tuple[str, ...] = ()  # string values accepted as-is, e.g. ("same", "valid") for padding

    kind = "ints"

    def _coerce(self, value: Any) -> int | tuple[int, ...] | str:
        if isinstance(value, str) and value in self.keywords:
            return value
        whole = _whole(value)
        if whole is not None:
            _check_range(self, whole)
            return whole
        if isinstance(value, (list, tuple)):
            if len(value) != self.length:
                raise self.fail(f"expected one number or a list of {self.length}, got {len(value)} values")
            items = []
            for item in value:
                whole = _whole(item)
                if whole is None:
                    raise self.fail(f"expected whole numbers, got {_describe(item)}")
                _check_range(self, whole)
                items.append(whole)
            return tuple(items)
        extra = "".join(f", {k!r}" for k in self.keywords)
        raise self.fail(f"expected a whole number or a list of {self.length}{extra}, got {_describe(value)}")

    def to_json(self, value: Any) -> Any:
        return list(value) if isinstance(value, tuple) else value

    def expand(self, value: int | Sequence[int]) -> tuple[int, ...]:
        if isinstance(value, int):
            return (value,) * self.length
        return tuple(value)

    def describe(self) -> str:
        limits = _range_text(self.minimum, self.maximum)
        text = f"whole number or list of {self.length}" + (f", each{limits}" if limits else "")
        if self.keywords:
            text += " or " + " / ".join(self.keywords)
        return text

    def _derived_example(self) -> Any:
        if self.default is not None:
            return self.to_json(self.default)
        return [max(1, self.minimum if self.minimum is not None else 1)] * self.length


@dataclass(frozen=True)
class ShapeParam(Param):
    """A tensor shape without the batch dimension, e.g. ``[1, 8, 8]``.

    ``allow_infer`` lets one entry be -1 (Reshape); ``min_rank``/``max_rank`` bound the length.
    """

    min_rank: int = 0
    max_rank: int = 8
    allow_infer: bool = False

    kind = "shape"

    def _coerce(self, value: Any) -> tuple[int, ...]:
        if _whole(value) is not None:
            value = [value]
        if not isinstance(value, (list, tuple)):
            raise self.fail(f"expected a list of sizes such as [1, 8, 8], got {_describe(value)}")
        if not self.min_rank <= len(value) <= self.max_rank:
            if self.min_rank == self.max_rank:
                raise self.fail(f"expected {self.min_rank} sizes, got {len(value)}")
            raise self.fail(f"expected {self.min_rank} to {self.max_rank} sizes, got {len(value)}")
        inferred = 0
        total = 1
        sizes = []
        for item in value:
            if _whole(item) is None:
                raise self.fail(f"sizes must be whole numbers, got {_describe(item)}")
            item = _whole(item)
            sizes.append(item)
            if item == -1 and self.allow_infer:
                inferred += 1
                continue
            if item < 1:
                hint = " (-1 may stand for one inferred size)" if self.allow_infer else ""
                raise self.fail(f"sizes must be at least 1, got {item}{hint}")
            total *= item
            if total > 2**31:
                raise self.fail("the shape has far too many elements")
        if inferred > 1:
            raise self.fail("only one size may be -1")
        return tuple(sizes)

    def to_json(self, value: Any) -> Any:
        return None if value is None else list(value)

    def describe(self) -> str:
        return f"list of sizes, e.g. {example_text(self.example_value())}"

    def _derived_example(self) -> Any:
        if self.default is not None:
            return list(self.default)
        return [28] * max(self.min_rank, 1)


@dataclass(frozen=True)
class StrParam(Param):
    max_length: int = 200

    kind = "str"

    def _coerce(self, value: Any) -> str:
        if not isinstance(value, str):
            raise self.fail(f"expected text, got {_describe(value)}")
        if len(value) > self.max_length:
            raise self.fail(f"at most {self.max_length} characters")
        return value

    def describe(self) -> str:
        example = self.example_text()
        return f"text, e.g. {example}" if example else "text"


def example_text(value: Any) -> str:
    """A JSON value as a user types it in a field: text as it is, lists in brackets, ``true``/``false``,
    numbers as written; empty for None."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(example_text(v) for v in value) + "]"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _num(value: float) -> str:
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer() and abs(value) < 1e15):
        return f"{int(value):,}"
    return f"{value:g}"


def _check_range(param: Any, value: float) -> None:
    lo, hi = param.minimum, param.maximum
    if lo is not None and value < lo:
        raise param.fail(f"must be at least {_num(lo)}, got {_num(value)}")
    if hi is not None and value > hi:
        raise param.fail(f"must be at most {_num(hi)}, got {_num(value)}")


def _range_text(lo: float | None, hi: float | None) -> str:
    if hi == _MAX_INT:
        hi = None
    if lo is not None and hi is not None:
        return f" from {_num(lo)} to {_num(hi)}"
    if lo is not None:
        return f" >= {_num(lo)}"
    if hi is not None:
        return f" <= {_num(hi)}"
    return ""


@dataclass
class ParamCheck:
    """The outcome of checking a node's raw params against its specs."""

    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, ParamError] = field(default_factory=dict)
    unknown: tuple[str, ...] = ()


def check_params(specs: Sequence[Param], raw: Any) -> ParamCheck:
    """Resolve raw JSON params against ``specs``: defaults for missing ones, an error per bad one.

    A param with an error takes its default in ``values`` so inference can still go on, but the
    error is reported (the graph is not valid until it is fixed).
    """
    result = ParamCheck()
    if not isinstance(raw, dict):
        raw = {}
    for spec in specs:
        value = raw.get(spec.name, _MISSING)
        if value is _MISSING:
            result.values[spec.name] = spec.default
            continue
        try:
            result.values[spec.name] = spec.coerce(value)
        except ParamError as exc:
            result.errors[spec.name] = exc
            result.values[spec.name] = spec.default
        except Exception as exc:  # noqa: BLE001 - a spec's own bug (a plugin's) is this param's error, not a crash
            result.errors[spec.name] = ParamError(spec.name, f"cannot check {_describe(value)}: "
                                                             f"{type(exc).__name__}: {exc}")
            result.values[spec.name] = spec.default
    known = {spec.name for spec in specs}
    result.unknown = tuple(name for name in raw if name not in known)
    return result
