"""Images and audio in tool results reach the model in each provider's own shape.

Agents run against the simulator through the official SDKs, plain and streamed; the simulator
checks the media as the real APIs do and keeps what it received, so each test reads what the model
was shown: the image's bytes intact where the API takes images in a tool result, the words saying
what was left out where it does not (Chat's tool messages carry text only; no API but Gemini's
takes audio).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest
from _adapters import ADAPTERS, anthropic, close, gemini, openai_chat, openai_responses
from _hyp import examples
from _media import JPEG_START, OPENINGS, PNG
from hypothesis import given
from hypothesis import strategies as st

from tests._sim import sim_in_thread
from volley import (
    Agent,
    Audio,
    Image,
    ModelTurn,
    Output,
    RunResult,
    ToolResult,
    ToolReturns,
    UserPrompt,
    tool,
)
from volley._content import render_parts
from volley._parts import Part
from volley.providers import ModelRequest, Provider, StreamingProvider
from volley.sim import ReceivedResult, RequestRecord, SimServer, parse_scenario

SCRIPT = {
    "turns": [
        {"calls": [{"name": "screenshot", "arguments": {"page": "home"}}]},
        {"when": "any_media", "text": "saw {media[0]}"},
        {"text": "saw nothing: {result[0]}"},
    ]
}
CHAT_NOTE = "(1 image of this result is not shown: this API's tool messages carry text only)"
WAV = b"RIFF\x24\x00\x00\x00WAVEfmt "
HUGE = OPENINGS["image/png"] + bytes(range(256)) * (5 * 1024 * 4)  # 5 MB and 8 bytes
Adapter = Callable[[SimServer], Provider]


@pytest.fixture(scope="module")
def media_sim() -> Iterator[SimServer]:
    with sim_in_thread(parse_scenario(json.dumps(SCRIPT)), time_scale=0) as server:
        yield server


def run(
    sim: SimServer, adapter: Adapter, parts: list[Any] | Output, *, streaming: bool = False
) -> tuple[RunResult, list[RequestRecord]]:
    """An agent whose one tool answers `parts`, against the simulator; its requests' records."""

    @tool(effects="read")
    async def screenshot(page: str) -> Any:
        """A screenshot of a page."""
        return parts

    async def main() -> RunResult:
        provider = adapter(sim)
        try:
            return await Agent(provider, [screenshot], streaming=streaming).run("go")
        finally:
            await close(provider)

    before = len(sim.log)
    result = asyncio.run(main())
    log = sim.log[before:]
    assert [(r.status, r.stream) for r in log] == [(200, streaming)] * 2, log
    return result, log


def received(log: list[RequestRecord]) -> ReceivedResult:
    (result,) = log[-1].results
    return result


@pytest.mark.parametrize("streaming", [False, True], ids=["plain", "streamed"])
@pytest.mark.parametrize("adapter", ADAPTERS)
def test_an_image_and_text_reach_the_model_in_the_providers_own_shape(
    media_sim, adapter, streaming
):
    result, log = run(media_sim, adapter, ["page home:", Image(PNG)], streaming=streaming)
    got = received(log)
    if adapter is openai_chat:  # text only: the image named, and why it is not shown
        assert got.media == ()
        assert got.content == f"page home:\n[image: image/png, 69 bytes]\n{CHAT_NOTE}"
        assert result.output == f"saw nothing: {got.content}"
        return
    assert got.media == (Image(PNG, "image/png"),)  # the bytes, intact
    assert result.output == "saw [image: image/png, 69 bytes]"
    if adapter is gemini:  # the response's text names the image; the image rides inside it
        assert got.parts == ("page home:\n[image: image/png, 69 bytes]", Image(PNG))
    else:  # a text block (item), then the image, in order
        assert got.parts == ("page home:", Image(PNG))


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_an_output_with_a_value_sends_its_parts_and_keeps_the_value_for_code(media_sim, adapter):
    answer = Output(("before", Image(PNG), "after"), value={"pixels": 1})
    result, log = run(media_sim, adapter, answer)
    (returns,) = [m for m in result.messages if isinstance(m, ToolReturns)]
    assert returns.results[0].value == {"pixels": 1}
    got = received(log)
    if adapter in (anthropic, openai_responses):
        assert got.parts == ("before", Image(PNG), "after")
    else:
        assert got.content.startswith("before\n[image: image/png, 69 bytes]\nafter")


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_audio_goes_inline_to_gemini_and_is_described_to_the_others(media_sim, adapter):
    result, log = run(media_sim, adapter, ["listen:", Audio(WAV)])
    got = received(log)
    named = "[audio: audio/wav, 16 bytes]"
    if adapter is gemini:  # after the function responses, labelled with its result
        assert log[-1].attached == (f"{named}, from result 1 (screenshot):", Audio(WAV))
        assert got.content == f"listen:\n{named}"
        assert result.output == "saw none"  # none inside the response; the scenario sees it
        return
    assert got.media == ()
    if adapter is openai_chat:
        assert got.content.endswith(
            "(1 audio clip of this result is not shown: this API's tool messages carry text only)"
        )
    else:
        assert got.parts == (
            "listen:",
            f"{named} (not sent: this API takes no audio in tool results)",
        )


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_a_five_megabyte_image_is_sent_or_described_and_costs_tokens_as_an_image(
    media_sim, adapter
):
    result, log = run(media_sim, adapter, ["big:", Image(HUGE)])
    got = received(log)
    assert log[-1].input_tokens < 5_000  # an image's cost, not its base64 text's words
    if adapter in (openai_responses, gemini):  # within their limits: sent whole
        assert got.media == (Image(HUGE),)
        return
    assert got.media == ()
    if adapter is anthropic:  # 5 MB as base64 is over its limit of 5 MB of base64
        assert got.parts == (
            "big:",
            "[image: image/png, 5,120 KB] (not sent: larger than the 5 MB this API takes per "
            "medium)",
        )
    else:
        assert got.content.endswith(CHAT_NOTE)
    assert "saw nothing" in result.output


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_an_empty_image_and_one_that_is_no_image_are_described_not_sent(media_sim, adapter):
    parts = [Image(b""), Image(b"<html>not an image</html>", "image/png"), "x"]
    _, log = run(media_sim, adapter, parts)
    got = received(log)
    assert got.media == ()
    if adapter is openai_chat:
        assert "(2 images of this result are not shown" in got.content
        return
    assert "[image: image/png, 0 bytes] (not sent: it is empty)" in got.content
    assert (
        "[image: image/png, 25 bytes] (not sent: its bytes are not a PNG, JPEG, GIF or WebP image)"
        in got.content
    )


@pytest.mark.parametrize("adapter", [anthropic, openai_responses, gemini])
def test_an_image_goes_out_as_what_its_bytes_are_and_text_is_made_sendable(media_sim, adapter):
    jpeg = JPEG_START + b"\x00" * 30
    gif = OPENINGS["image/gif"] + b"\x00" * 30
    _, log = run(
        media_sim, adapter, ["a\ud800b", Image(jpeg, "image/png"), Image(gif, "image/gif")]
    )
    got = received(log)
    if adapter is gemini:  # no GIF in a function response: described
        assert got.media == (Image(jpeg, "image/jpeg"),)
        assert "(not sent: this API takes PNG, JPEG, WebP images, not GIF)" in got.content
        return
    assert got.parts == ("a\ufffdb", Image(jpeg, "image/jpeg"), Image(gif, "image/gif"))


# -- any sequence of text and images comes back as it was sent --------------------------------

texts = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=30)
images = st.builds(
    lambda kind, tail: Image(OPENINGS[kind] + tail, kind),
    st.sampled_from(["image/png", "image/jpeg", "image/webp"]),
    st.binary(max_size=80),
)
sequences = st.lists(st.one_of(texts, images), min_size=1, max_size=6).filter(
    lambda parts: any(isinstance(part, Image) for part in parts)
)


@tool(effects="read")
async def screenshot(page: str) -> str:
    """A screenshot of a page."""
    return page


class Clients:
    """One provider per adapter on one loop of their own, for the examples to share: making an
    SDK client costs more than a round trip to the simulator."""

    def __init__(self, sim: SimServer) -> None:
        self.sim = sim
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.providers: dict[str, Provider] = {}
        self.first_turns: dict[str, ModelTurn] = {}

    def run(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(60)

    async def send(self, adapter: Adapter, parts: tuple[Part, ...], *, stream: bool) -> ToolResult:
        """A result of `parts` answering the simulator's call, plain or streamed."""
        name = adapter.__name__
        provider = self.providers.get(name)
        if provider is None:
            provider = self.providers[name] = adapter(self.sim)
            first = await provider.complete(ModelRequest([UserPrompt("go")], [screenshot]))
            self.first_turns[name] = first
        turn = self.first_turns[name]
        (call,) = turn.calls
        result = ToolResult(call.id, call.name, render_parts(parts), parts=parts)
        request = ModelRequest([UserPrompt("go"), turn, ToolReturns((result,))], [screenshot])
        if stream:
            assert isinstance(provider, StreamingProvider)
            items = [item async for item in provider.stream(request)]
            assert isinstance(items[-1], ModelTurn)
        else:
            await provider.complete(request)
        return result

    def close(self) -> None:
        for provider in self.providers.values():
            self.run(close(provider))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture(scope="module")
def clients(media_sim: SimServer) -> Iterator[Clients]:
    shared = Clients(media_sim)
    yield shared
    shared.close()


@given(sequences, st.sampled_from(ADAPTERS), st.booleans())
@examples(200)
def test_any_sequence_of_text_and_images_is_decoded_back_in_order(
    media_sim, clients, parts: list[Part], adapter: Adapter, stream: bool
) -> None:
    sent = clients.run(clients.send(adapter, tuple(parts), stream=stream))
    assert media_sim.log[-1].status == 200
    got = received([media_sim.log[-1]])
    if adapter is openai_chat:
        assert got.parts == ()
        assert got.content.startswith(sent.content + "\n(")
    elif adapter is gemini:  # the text, then the images inside the function response
        assert got.parts == (sent.content, *(p for p in parts if isinstance(p, Image)))
    else:  # as they were, bar text of only whitespace (a block Anthropic refuses)
        assert got.parts == tuple(p for p in parts if not isinstance(p, str) or p.strip())
