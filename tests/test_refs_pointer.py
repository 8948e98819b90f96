"""References into part of another call's value (RFC 6901 pointers), and calls answered up front."""

from __future__ import annotations

from typing import Any

from _hyp import examples
from _vtime import vrun
from hypothesis import given
from hypothesis import strategies as st

from volley import ErrorKind, Executor, ToolCall, ToolResult, tool

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(alphabet="ab/~0", max_size=3), inner, max_size=4)
    ),
    max_leaves=20,
)


def paths(value: Any) -> list[tuple[str, ...]]:
    """Every path that leads somewhere in `value`, the empty one included."""
    found: list[tuple[str, ...]] = [()]
    if isinstance(value, dict):
        for key, item in value.items():
            found += [(key, *rest) for rest in paths(item)]
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += [(str(index), *rest) for rest in paths(item)]
    return found


def pointer(path: tuple[str, ...]) -> str:
    return "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in path)


def at(value: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        value = value[int(part)] if isinstance(value, list) else value[part]
    return value


def run(value: Any, pointers: list[str]) -> tuple[list[ToolResult], list[Any]]:
    seen: list[Any] = []

    @tool(effects="read")
    async def source() -> Any:
        return value

    @tool
    async def sink(x: Any = None) -> None:
        seen.append(x)

    calls = [ToolCall("src", "source")] + [
        ToolCall(f"p{i}", "sink", {"x": {"$ref": "src", "pointer": p}}, refs=True)
        for i, p in enumerate(pointers)
    ]

    async def go() -> list[ToolResult]:
        async with Executor([source, sink]) as ex:
            return await ex.run(calls)

    return vrun(go), seen


@examples(200)
@given(json_values, st.data())
def test_a_pointer_that_leads_somewhere_gives_exactly_that_part(value: Any, data: Any) -> None:
    path = data.draw(st.sampled_from(paths(value)))
    results, seen = run(value, [pointer(path)])
    assert not results[1].is_error, results[1].content
    assert seen == [at(value, path)]


@examples(200)
@given(json_values, st.lists(st.text(alphabet="ab01/~-", max_size=4), min_size=1, max_size=3))
def test_a_pointer_that_leads_nowhere_is_an_error_and_the_call_never_runs(
    value: Any, parts: list[str]
) -> None:
    path = tuple(parts)
    if path in paths(value):
        return
    results, seen = run(value, [pointer(path)])
    assert seen == []
    assert results[1].error_kind == ErrorKind.INVALID_ARGUMENTS
    assert "does not resolve" in results[1].content


def test_pointer_errors_say_where_the_path_stops_and_what_is_there() -> None:
    value = {"results": [{"url": "u1"}, {"url": "u2"}], "n": 2}
    results, _ = run(value, ["/results/5/url", "/results/0/link", "/n/x", "results", "/results/01"])
    texts = [r.content for r in results[1:]]
    assert "'/results' is a list of 2 items, with no item '5'" in texts[0]
    assert "'/results/0' has no key 'link' (its keys: 'url')" in texts[1]
    assert "'/n' is 2, not an object or a list" in texts[2]
    assert "is not a JSON pointer" in texts[3]
    assert "'/key/0/key'" in texts[3]
    assert "no item '01'" in texts[4]
    assert all(r.error_kind == ErrorKind.INVALID_ARGUMENTS for r in results[1:])


def test_a_mapping_with_other_keys_beside_ref_is_data() -> None:
    @tool
    async def take(x: Any) -> Any:
        return x

    data = {"$ref": "src", "pointer": "/a", "extra": 1}
    calls = [ToolCall("src", "take", {"x": 5}), ToolCall("d", "take", {"x": data}, refs=True)]

    async def go() -> list[ToolResult]:
        async with Executor([take]) as ex:
            return await ex.run(calls)

    assert vrun(go)[1].value == data


def test_an_answered_call_is_seen_by_those_that_need_it() -> None:
    @tool
    async def take(x: Any) -> Any:
        return x

    told: list[str] = []

    async def go() -> list[ToolResult]:
        async with Executor([take]) as ex:
            batch = ex.batch(on_result=lambda r: told.append(r.call_id))
            batch.answer(ToolCall("old", "take"), ToolResult("old", "take", "{}", {"k": [7]}))
            refused = ToolResult(
                "no", "take", "refused", is_error=True, error_kind=ErrorKind.DENIED
            )
            batch.answer(ToolCall("no", "take"), refused, tell=False)
            batch.submit_many(
                [
                    ToolCall("a", "take", {"x": {"$ref": "old", "pointer": "/k/0"}}, refs=True),
                    ToolCall("b", "take", {"x": {"$ref": "no"}}, refs=True),
                    ToolCall("c", "take", {"x": 1}, depends_on=("no",)),
                ]
            )
            return await batch.close()

    results = vrun(go)
    assert [r.call_id for r in results] == ["old", "no", "a", "b", "c"]
    assert results[2].value == 7
    assert results[3].error_kind == results[4].error_kind == ErrorKind.DEPENDENCY_FAILED
    assert "'no' (take), which did not succeed (denied)" in results[3].content
    assert sorted(told) == ["a", "b", "c", "old"]  # not "no": it was not to be told
