"""Each call runs in a copy of the context it was submitted from, whatever lets it start.

A call that waits (for a free slot, a dependency, a conflicting write) is started from the task
of the call that ended before it: it must not see what that call's tool set in its context.
"""

from __future__ import annotations

import asyncio
import contextvars

from _hyp import examples
from _vtime import vrun
from hypothesis import given
from hypothesis import strategies as st

from volley import Executor, ToolCall, ToolResult, tool

SEEN = contextvars.ContextVar("seen", default="unset")


@tool(writes=lambda a: [a["key"]])
async def mark(tag: str, key: str, d: int) -> str:
    seen = SEEN.get()
    SEEN.set(tag)  # what this call's tool leaves in its context
    await asyncio.sleep(d)
    return seen


@tool
def mark_in_thread(tag: str, key: str, d: int) -> str:
    seen = SEEN.get()
    SEEN.set(tag)
    return seen


CALL = st.tuples(
    st.sampled_from(["mark", "mark_in_thread"]),
    st.sampled_from(["k1", "k2", "k3"]),
    st.integers(0, 2),
    st.booleans(),  # depends on the call before it
)


@examples(200)
@given(calls=st.lists(CALL, min_size=1, max_size=8), limit=st.sampled_from([1, 2, 3, 64]))
def test_every_call_sees_the_context_it_was_submitted_from(
    calls: list[tuple[str, str, int, bool]], limit: int
) -> None:
    batch = [
        ToolCall(
            f"c{i}",
            name,
            {"tag": f"c{i}", "key": key, "d": d},
            depends_on=(f"c{i - 1}",) if after and i else (),
        )
        for i, (name, key, d, after) in enumerate(calls)
    ]

    async def main() -> tuple[list[ToolResult], str]:
        SEEN.set("submitter")
        async with Executor([mark, mark_in_thread], max_concurrency=limit) as ex:
            results = await ex.run(batch)
        return results, SEEN.get()

    results, after = vrun(main)
    assert [r.value for r in results] == ["submitter"] * len(batch), results
    assert after == "submitter", "a call's context is a copy: the submitter's is untouched"
