"""JSON text takes a fast path through one validator; it must answer as the slow path would.

The slow path (`parse_arguments`, then the tool's validator) refuses what JSON cannot carry:
`NaN`, `Infinity`, numbers too large for a float. The fast path skips scanning the text for them
when the tool's parameters refuse them by themselves (`refuses_non_finite`); these tests hold
that it never lets one through, and, where it skips the scan, never answers differently.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any, Literal

import pytest
from _hyp import examples
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict

from volley import tool
from volley._arguments import ArgumentError, parse_arguments
from volley._signature import describe_function


class Inner(BaseModel):
    name: str
    n: int = 0
    children: list[Inner] = []


class Loose(BaseModel):
    model_config = ConfigDict(coerce_numbers_to_str=True)
    code: str


class Color(StrEnum):
    RED = "red"
    BLUE = "blue"


async def plain(a: int, b: str = "x", flag: bool = False, color: Color = Color.RED) -> None: ...


async def nested(
    items: list[Inner], mode: Literal["a", "b"] = "a", tag: str | None = None
) -> None: ...


async def counted(
    counts: dict[str, int] | None = None, pair: tuple[int, str] = (0, "")
) -> None: ...


async def floating(c: float = 1.5, a: int = 0) -> None: ...


async def anything(x: Any = None, **extra: Any) -> None: ...


async def either(u: str | bool = False, a: int = 0) -> None: ...


async def levels(level: Literal[1, 2, 2.5] = 1) -> None: ...


async def coded(zip: Loose | None = None, b: str = "") -> None: ...


async def weights(w: dict[str, float] | None = None) -> None: ...


REFUSING = [plain, nested, counted]
SCANNED = [floating, anything, either, levels, coded, weights]

INNER_KEYS = ["name", "n", "children", "code", "zzz"]
NON_FINITE = ["NaN", "-NaN", "Infinity", "-Infinity", "1e400", "-1E+999", "9" * 310 + ".5"]
TOKENS = [*NON_FINITE, "1" * 320]  # the last is a valid integer, if a long one
MARK = "\x00"

leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.sampled_from([0, 1, 2, 0.0, 1.0, -0.0]),  # a bool's too, in lax mode; or a string's
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["a", "b", "red", "x", "12", "", "1.5", "NaN", "Infinity"]),
    st.sampled_from(TOKENS).map(lambda token: f"{MARK}{token}{MARK}"),
)
values = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(INNER_KEYS), inner, max_size=4),
    ),
    max_leaves=10,
)


@st.composite
def calls(draw: st.DrawFn) -> tuple[Any, dict[str, Any]]:
    """A function, and arguments for it: mostly its own parameters, now and then an unknown."""
    fn = draw(st.sampled_from(REFUSING + SCANNED))
    names = [*describe_function(fn, fn.__name__).model.model_fields, "zzz"]
    return fn, draw(st.dictionaries(st.sampled_from(names), leaves | values, max_size=4))


def as_text(args: dict[str, Any]) -> str:
    """JSON text, with each marked token written bare, as a model that writes it would."""
    text = json.dumps(args)
    for token in TOKENS:
        text = text.replace(json.dumps(f"{MARK}{token}{MARK}"), token)
    return text


def answer(run: Any) -> tuple[str, Any]:
    try:
        return "keywords", run()
    except ArgumentError as exc:
        return "refused", str(exc)


@pytest.mark.parametrize("fn", REFUSING + SCANNED, ids=lambda fn: fn.__name__)
def test_which_parameters_refuse_non_finite_numbers_by_themselves(fn: Any) -> None:
    assert describe_function(fn, fn.__name__).json_refuses_non_finite == (fn in REFUSING)


@examples(500)
@given(call=calls())
def test_the_fast_path_answers_as_the_slow_path(call: tuple[Any, dict[str, Any]]) -> None:
    fn, args = call
    made = tool(fn)
    text = as_text(args)
    fast = answer(lambda: made.parse(text))
    slow = answer(lambda: made.validate(parse_arguments(text, tool=made.name)))
    if describe_function(fn, fn.__name__).json_refuses_non_finite:
        assert fast == slow
    else:
        # A number given for a string may be worded apart ("0" from JSON text, "0.0" from the
        # float the slow path parsed): the same answer otherwise.
        assert fast[0] == slow[0]
        assert fast[0] == "keywords" or fast == slow
    if any(json.dumps(f"{MARK}{token}{MARK}") in json.dumps(args) for token in NON_FINITE):
        assert fast[0] == "refused", text


@pytest.mark.parametrize(
    ("fn", "text"),
    [
        (plain, '{"a": 1, "b": NaN}'),  # a string made of a number: refused, not "NaN"
        (plain, '{"a": 1e400}'),
        (nested, '{"items": [{"name": "n", "children": [{"name": Infinity}]}]}'),
        (counted, '{"counts": {"k": -Infinity}}'),
        (floating, '{"c": NaN}'),
        (coded, '{"zip": {"code": NaN}}'),
        (either, '{"u": Infinity}'),
    ],
)
def test_a_non_finite_number_is_refused_whatever_it_is_for(fn: Any, text: str) -> None:
    with pytest.raises(ArgumentError, match=r"NaN|Infinity|finite|too large"):
        tool(fn).parse(text)


def test_a_number_for_a_string_still_becomes_its_text() -> None:
    # The fast validator does not turn numbers into strings; the slow path still does.
    assert tool(plain).parse('{"a": 1, "b": 75001}') == {
        "a": 1,
        "b": "75001",
        "flag": False,
        "color": Color.RED,
    }
