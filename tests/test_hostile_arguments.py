"""What a model sends is never trusted: every shape of broken argument becomes a result.

Deep nesting, values JSON cannot carry, non-objects, cut text, huge strings: whatever a model
writes, every call gets one answer, in order, the batch ends, and no tool body ever sees a value
it could not send back to a model.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Mapping
from typing import Any

import pytest
from _hyp import examples
from _vtime import REC, vrun
from hypothesis import given
from hypothesis import strategies as st

from volley import ErrorKind, Executor, Tool, ToolCall, ToolResult, tool
from volley._arguments import MAX_DEPTH
from volley._content import render


@tool
async def take(x: Any = None, tag: str = "") -> str:
    with REC.body("take", tag, x):
        return "ok"


@tool(effects="read")
async def take_read(x: Any = None, tag: str = "") -> str:
    with REC.body("take_read", tag, x):
        return "ok"


def _schema_tool() -> Tool[..., Any]:
    def body(**kwargs: Any) -> str:
        with REC.body("schema", kwargs.get("tag", ""), kwargs.get("x")):
            return "ok"

    schema = {"type": "object", "properties": {"x": {}, "tag": {"type": "string"}}}
    return Tool.from_schema("schema", "takes anything", schema, body)


TOOLS = [take, take_read, _schema_tool()]


async def run(calls: list[ToolCall]) -> list[ToolResult]:
    async with Executor(TOOLS) as ex:
        return await ex.run(calls)


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def depth_of(value: Any) -> int:
    """Containers nested inside `value` (0 for a scalar), without recursion."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, Mapping):
            stack.extend((v, depth + 1) for v in node.values())
            deepest = max(deepest, depth + 1)
        elif isinstance(node, list | tuple):
            stack.extend((v, depth + 1) for v in node)
            deepest = max(deepest, depth + 1)
    return deepest


def sendable(value: Any) -> bool:
    """Whether a value can go back to a model: strict JSON, valid UTF-8."""
    try:
        json.dumps(value, allow_nan=False).encode("utf-8")
        json.dumps(value, allow_nan=False, ensure_ascii=False).encode("utf-8")
    except (ValueError, TypeError, RecursionError):
        return False
    return True


@pytest.mark.parametrize("name", ["take", "take_read", "schema"])
@pytest.mark.parametrize("form", ["text", "dict", "refs"])
def test_arguments_nested_10000_deep_are_an_error_the_model_reads(name: str, form: str) -> None:
    deep = nested(10_000)
    arguments: Any = {"x": deep, "tag": "deep"}
    if form == "text":
        arguments = '{"x": ' + "[" * 10_000 + "]" * 10_000 + ', "tag": "deep"}'
    calls = [
        ToolCall("deep", name, arguments, refs=form == "refs"),
        ToolCall("fine", name, {"x": nested(MAX_DEPTH - 1), "tag": "fine"}),
    ]
    results = vrun(lambda: run(calls))
    assert results[0].error_kind == ErrorKind.INVALID_ARGUMENTS
    assert f"deeper than {MAX_DEPTH} levels" in results[0].content
    assert results[1].error_kind is None
    assert "deep" not in REC.intervals


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('{"x": NaN}', "NaN"),
        ('{"x": [1, Infinity]}', "Infinity"),
        ('{"x": -Infinity}', "-Infinity"),
        ('{"x": 1e400}', "Infinity"),
        ('{"x": {"deep": -2e999}}', "-Infinity"),
        ('{"x": "\\ud800"}', "lone surrogate"),
        ('{"x": "ok\\udfff"}', "lone surrogate"),
        ('{"\\ud800": 1}', "lone surrogate"),
        ('{"x": "\ud800"}', "lone surrogate"),  # the character itself, not its escape
    ],
)
@pytest.mark.parametrize("name", ["take", "schema"])
def test_values_json_cannot_carry_never_reach_a_tool(text: str, named: str, name: str) -> None:
    calls = [ToolCall("bad", name, text)]
    # The same value as a dict, as an SDK that parsed it leniently would hand it over.
    with contextlib.suppress(ValueError):
        calls.append(ToolCall("bad-dict", name, json.loads(text)))
    results = vrun(lambda: run(calls))
    for result in results:
        assert result.error_kind == ErrorKind.INVALID_ARGUMENTS, result
        assert named in result.content
        assert sendable(result.content)
    assert not REC.intervals


def test_a_valid_surrogate_pair_and_nan_inside_a_string_are_fine() -> None:
    calls = [
        ToolCall("emoji", "take", '{"x": "\\ud83d\\ude00", "tag": "a"}'),
        ToolCall("word", "take", '{"x": "NaN and Infinity are words", "tag": "b"}'),
        ToolCall("big", "take", '{"x": 1e308, "tag": "c"}'),
        ToolCall("int", "take", '{"x": ' + "9" * 400 + ', "tag": "d"}'),
    ]
    results = vrun(lambda: run(calls))
    assert [r.error_kind for r in results] == [None] * 4
    assert REC.received["a"] == "\U0001f600"
    assert REC.received["b"] == "NaN and Infinity are words"
    assert REC.received["d"] == int("9" * 400)


def test_what_a_tool_returns_is_always_sendable() -> None:
    @tool
    async def odd(kind: str) -> Any:
        return {
            "nan": {"v": math.nan, "w": [math.inf, -math.inf]},
            "lone": "half of a pair: \ud83d",
            "key": {"\udc00": 1, "ok": "\U0001f600"},
            "split": "\ud83d\ude00",  # a pair as two characters: joined, not replaced
        }[kind]

    calls = [ToolCall(k, "odd", {"kind": k}) for k in ("nan", "lone", "key", "split")]
    results = vrun(lambda: run_with([odd], calls))
    for result in results:
        assert result.error_kind is None, result
        assert sendable(result.content), result
    assert json.loads(results[0].content) == {"v": None, "w": [None, None]}
    assert results[3].content == "\U0001f600"


async def run_with(tools: list[Any], calls: list[ToolCall]) -> list[ToolResult]:
    async with Executor(tools) as ex:
        return await ex.run(calls)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("[1, 2]", "got an array"),
        ('"x"', "got a string"),
        ("3", "got a number"),
        ("null", "got null"),
        ('{"x": ', "not valid JSON"),
        ('{"x": 1} trailing', "not valid JSON"),
    ],
)
def test_text_that_is_not_an_object_says_what_it_is(text: str, says: str) -> None:
    (result,) = vrun(lambda: run([ToolCall("c", "take", text)]))
    assert result.error_kind == ErrorKind.INVALID_ARGUMENTS
    assert says in result.content


def test_a_huge_argument_is_taken_and_a_huge_bad_one_is_quoted_briefly() -> None:
    big = "y" * 1_000_000
    calls = [
        ToolCall("big", "take", json.dumps({"x": big, "tag": "big"})),
        ToolCall("bad", "take", '{"x": "' + big),  # cut: never closed
        ToolCall("name", "y" * 1_000_000, {}),
    ]
    results = vrun(lambda: run(calls))
    assert results[0].error_kind is None
    assert REC.received["big"] == big
    assert results[1].error_kind == ErrorKind.INVALID_ARGUMENTS
    assert results[2].error_kind == ErrorKind.UNKNOWN_TOOL
    assert all(len(r.content) < 2_000 for r in results[1:])


def test_a_tool_whose_own_validator_raises_still_answers_the_call() -> None:
    def picky(arguments: Mapping[str, Any]) -> dict[str, Any]:
        raise RecursionError("my validator recursed")

    broken = Tool(print, name="broken", description="", schema={}, validate=picky, accepted=["a"])
    calls = [ToolCall("1", "broken", {"a": 1}), ToolCall("2", "take", {"tag": "after"})]
    results = vrun(lambda: run_with([broken, take], calls))
    assert results[0].error_kind == ErrorKind.INVALID_ARGUMENTS
    assert "RecursionError: my validator recursed" in results[0].content
    assert results[1].error_kind is None


def test_a_listener_that_raises_does_not_cost_a_call_its_answer() -> None:
    heard: list[str] = []

    def listener(result: ToolResult) -> None:
        heard.append(result.call_id)
        raise RuntimeError("a UI bug")

    async def main() -> list[ToolResult]:
        async with Executor(TOOLS) as ex:
            batch = ex.batch(on_result=listener)
            batch.submit_many([ToolCall("a", "take", {"tag": "a"}), ToolCall("b", "take", "[")])
            return await batch.close()

    results = vrun(main)
    assert [r.call_id for r in results] == ["a", "b"] == sorted(heard)


# -- random hostile arguments ---------------------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**30), 10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.sampled_from(["\ud800", "a\udfffb", "\ud83d\ude00", "NaN", "Infinity", "1e400"]),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=12,
)


@st.composite
def hostile_arguments(draw: Any) -> Any:
    """What a model might send: an object, or text of it (maybe cut, maybe not an object)."""
    deep = draw(st.sampled_from([0, 0, MAX_DEPTH - 2, MAX_DEPTH + 1, 5_000]))
    value = {"x": nested(deep) if deep else draw(values), "tag": "t"}
    form = draw(st.sampled_from(["dict", "text", "cut", "other"]))
    if form == "dict":
        return value
    if form == "other":
        return json.dumps(draw(values), allow_nan=True)
    if deep:  # written by hand: the stdlib's encoder recurses
        text = '{"x": ' + "[" * deep + "1" + "]" * deep + ', "tag": "t"}'
    else:
        text = json.dumps(value, ensure_ascii=draw(st.booleans()), allow_nan=True)
    if form == "cut":
        return text[: draw(st.integers(0, len(text)))]
    return text


@given(st.lists(st.tuples(st.sampled_from(["take", "take_read", "schema"]), hostile_arguments())))
@examples(200)
def test_any_arguments_give_one_result_each_and_no_tool_sees_what_it_cannot_send(calls):
    batch = [ToolCall(f"c{i}", name, arguments) for i, (name, arguments) in enumerate(calls)]
    results = vrun(lambda: run(batch))
    assert [r.call_id for r in results] == [c.id for c in batch]
    for result in results:
        assert sendable(result.content), result
        assert result.error_kind in (None, ErrorKind.INVALID_ARGUMENTS), result
    # Every body that ran was a call that succeeded (identical reads share one body), and saw
    # only what it could send back.
    ran = sum(r.error_kind is None and r.duplicate_of is None for r in results)
    assert sum(REC.invocations.values()) == ran
    for received in REC.received.values():
        assert sendable(received)
        assert depth_of(received) <= MAX_DEPTH


def test_render_never_raises_on_what_json_cannot_carry() -> None:
    assert render(math.nan) == "null"
    assert sendable(render(["\ud800", {"\udc00": math.inf}]))
