"""What a tool may answer besides text: media, an `Output` with a value, its own words.

Properties: whatever mix of text and media a tool returns, the result keeps the media in order,
`content` names each medium where it stands, and the text (in `content` and in `parts`) is cut
to the executor's limit like any text result.
"""

from __future__ import annotations

import asyncio
from typing import Any

from _hyp import examples
from hypothesis import given
from hypothesis import strategies as st

from volley import Audio, ErrorKind, Executor, Image, Output, ToolCall, ToolError, ToolResult, tool

PARTS = st.lists(
    st.one_of(
        st.text(max_size=20),
        st.integers(0, 400).map(lambda n: "é" * n),  # long enough to be cut
        st.builds(Image, st.binary(max_size=64)),
        st.builds(Audio, st.binary(max_size=64)),
    ),
    max_size=8,
)
LIMIT = 200


def answer(value: Any) -> ToolResult:
    @tool
    async def answering() -> Any:
        return value

    async def main() -> ToolResult:
        async with Executor([answering], max_content_chars=LIMIT) as ex:
            (result,) = await ex.run([ToolCall("c", "answering")])
            return result

    return asyncio.run(main())


@examples(200)
@given(parts=PARTS, wrap=st.sampled_from(["list", "output"]))
def test_media_stay_in_order_and_text_is_cut_to_the_limit(parts: list[Any], wrap: str) -> None:
    value: Any = list(parts) if wrap == "list" else Output(tuple(parts), value={"v": 1})
    result = answer(value)
    assert not result.is_error
    media = [p for p in parts if not isinstance(p, str)]
    if wrap == "output":
        assert result.value == {"v": 1}
    if media:
        assert [p for p in result.parts if not isinstance(p, str)] == media
        text = sum(len(p) for p in result.parts if isinstance(p, str))
        assert text <= LIMIT + 100  # the cut, and the note that says so
        if sum(len(p) for p in parts if isinstance(p, str)) > LIMIT:
            assert "[output cut:" in "".join(p for p in result.parts if isinstance(p, str))
    else:
        assert result.parts == ()
    assert len(result.content) <= LIMIT + 100


def test_a_tool_error_is_the_tools_own_words_and_a_bad_mix_is_an_invalid_result() -> None:
    @tool
    async def missing(path: str) -> str:
        raise ToolError(f"no such file: {path}")

    async def main() -> list[ToolResult]:
        async with Executor([missing]) as ex:
            return await ex.run([ToolCall("c", "missing", {"path": "a.txt"})])

    (result,) = asyncio.run(main())
    assert (result.error_kind, result.content) == (ErrorKind.EXCEPTION, "no such file: a.txt")
    mixed = answer(["text", Image(b"\x89PNG"), object()])
    assert mixed.error_kind == ErrorKind.INVALID_RESULT
