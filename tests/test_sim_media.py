"""The simulator reads images and audio in tool results as the real APIs do, and refuses bad ones.

Each format takes media in its own shape; a malformed one (bad base64, a type the API does not
take, bytes that are no image, too large) is refused with that API's kind of 400, and a valid one
is decoded and kept with the result, for templates (``{media[N]}``), conditions (``any_media``)
and tests.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from _media import OPENINGS, PNG

from volley import Audio, Image
from volley.sim import (
    AnthropicMessages,
    Exchange,
    Gemini,
    OpenAIChat,
    OpenAIResponses,
    ReceivedResult,
    WireError,
    parse_scenario,
)
from volley.sim._script import plan_reply

B64 = base64.b64encode(PNG).decode()
DATA_URL = f"data:image/png;base64,{B64}"


def image_block(data: str = B64, media_type: str = "image/png") -> dict[str, Any]:
    return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}


def anthropic_body(*content: Any, after: tuple[Any, ...] = ()) -> dict[str, Any]:
    use = {"type": "tool_use", "id": "toolu_1", "name": "shot", "input": {}}
    result = {"type": "tool_result", "tool_use_id": "toolu_1", "content": list(content)}
    return {
        "model": "m",
        "max_tokens": 100,
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": [use]},
            {"role": "user", "content": [result, *after]},
        ],
    }


def chat_body(content: Any) -> dict[str, Any]:
    call = {"id": "call_1", "type": "function", "function": {"name": "shot", "arguments": "{}"}}
    return {
        "model": "m",
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "call_1", "content": content},
        ],
    }


def responses_body(*output: Any) -> dict[str, Any]:
    call = {"type": "function_call", "call_id": "call_1", "name": "shot", "arguments": "{}"}
    answer = {"type": "function_call_output", "call_id": "call_1", "output": list(output)}
    return {"model": "m", "input": [{"role": "user", "content": "hi"}, call, answer]}


def gemini_body(*media: Any, after: tuple[Any, ...] = ()) -> dict[str, Any]:
    response: dict[str, Any] = {"name": "shot", "response": {"output": "look"}}
    if media:
        response["parts"] = list(media)
    return {
        "contents": [
            {"role": "user", "parts": [{"text": "hi"}]},
            {"role": "model", "parts": [{"functionCall": {"name": "shot", "args": {}}}]},
            {"role": "user", "parts": [{"functionResponse": response}, *after]},
        ]
    }


def inline(data: str = B64, mime: str = "image/png") -> dict[str, Any]:
    return {"inlineData": {"mimeType": mime, "data": data}}


ROUTE = {"version": "v1", "target": "m:generateContent"}
GEMINI = Gemini(signatures=False)


def parse(wire: Any, body: dict[str, Any]) -> ReceivedResult:
    request = wire.parse(body, ROUTE)
    (result,) = request.history[-1].results
    return result


def test_each_format_decodes_an_image_and_keeps_it_in_order_with_the_text():
    image = Image(PNG)
    text = {"type": "text", "text": "look"}
    got = parse(AnthropicMessages(), anthropic_body(text, image_block()))
    assert (got.parts, got.content) == (("look", image), "look\n[image: image/png, 69 bytes]")
    got = parse(
        OpenAIResponses(),
        responses_body({"type": "input_image", "image_url": DATA_URL, "detail": "low"}),
    )
    assert got.parts == (image,)
    urlsafe = base64.urlsafe_b64encode(PNG).decode().rstrip("=")  # as the genai SDK writes it
    got = parse(GEMINI, gemini_body(inline(urlsafe)))
    assert (got.parts, got.content, got.media) == (("look", image), "look", (image,))
    got = parse(
        OpenAIChat(), chat_body([{"type": "text", "text": "a"}, {"type": "text", "text": "b"}])
    )
    assert (got.parts, got.content) == ((), "ab")


def test_what_comes_after_the_results_is_kept_apart():
    body = anthropic_body("done", after=({"type": "text", "text": "note"}, image_block()))
    body["messages"][-1]["content"][0]["content"] = "done"
    request = AnthropicMessages().parse(body)
    assert request.history[-1].attached == ("note", Image(PNG))
    wav = base64.b64encode(b"RIFF....WAVE").decode()
    request = GEMINI.parse(gemini_body(after=({"text": "hear:"}, inline(wav, "audio/wav"))), ROUTE)
    assert request.history[-1].attached == ("hear:", Audio(b"RIFF....WAVE", "audio/wav"))


def test_images_the_api_fetches_itself_are_taken_unread():
    url = {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}}
    assert parse(AnthropicMessages(), anthropic_body(url)).media == ()
    remote = {"type": "input_image", "image_url": "https://example.com/a.png"}
    assert parse(OpenAIResponses(), responses_body(remote)).media == ()
    files = {"fileData": {"mimeType": "image/png", "fileUri": "gs://b/a.png"}}
    assert parse(GEMINI, gemini_body(files)).media == ()


REFUSALS = {
    "anthropic: media type": (
        AnthropicMessages(),
        anthropic_body(image_block(media_type="image/bmp")),
        "Input should be 'image/jpeg', 'image/png', 'image/gif' or 'image/webp'",
    ),
    "anthropic: base64": (
        AnthropicMessages(),
        anthropic_body(image_block("not base64!")),
        "not valid base64",
    ),
    "anthropic: bytes are another type": (
        AnthropicMessages(),
        anthropic_body(image_block(media_type="image/jpeg")),
        "Image does not match the provided media type image/jpeg",
    ),
    "anthropic: no image": (
        AnthropicMessages(),
        anthropic_body(image_block(base64.b64encode(b"hello").decode())),
        "Could not process image",
    ),
    "anthropic: over 5 MB": (
        AnthropicMessages(),
        anthropic_body(image_block("A" * (5 * 1024 * 1024 + 4))),
        "image exceeds 5 MB maximum: 5242884 bytes > 5242880 bytes",
    ),
    "anthropic: empty text": (
        AnthropicMessages(),
        anthropic_body({"type": "text", "text": ""}, image_block()),
        "text content blocks must be non-empty",
    ),
    "anthropic: whitespace text": (
        AnthropicMessages(),
        anthropic_body({"type": "text", "text": " \n"}, image_block()),
        "text content blocks must contain non-whitespace text",
    ),
    "anthropic: audio": (
        AnthropicMessages(),
        anthropic_body({"type": "audio", "source": {}}),
        "Input tag 'audio' found using 'type' does not match",
    ),
    "chat: an image in a tool message": (
        OpenAIChat(),
        chat_body([{"type": "image_url", "image_url": {"url": DATA_URL}}]),
        "Image URLs are only allowed for messages with role 'user'",
    ),
    "chat: audio in a tool message": (
        OpenAIChat(),
        chat_body([{"type": "input_audio", "input_audio": {"data": "", "format": "wav"}}]),
        "Audio inputs are only allowed for messages with role 'user'",
    ),
    "responses: not a data URL": (
        OpenAIResponses(),
        responses_body({"type": "input_image", "image_url": "data:image/png," + B64}),
        "but got a value with an invalid format",
    ),
    "responses: MIME type": (
        OpenAIResponses(),
        responses_body({"type": "input_image", "image_url": f"data:image/bmp;base64,{B64}"}),
        "but got unsupported MIME type 'image/bmp'",
    ),
    "responses: base64": (
        OpenAIResponses(),
        responses_body({"type": "input_image", "image_url": "data:image/png;base64,%%%"}),
        "but got an invalid base64 string",
    ),
    "responses: no image": (
        OpenAIResponses(),
        responses_body({"type": "input_image", "image_url": "data:image/png;base64,aGVsbG8="}),
        "does not represent a valid image",
    ),
    "responses: audio": (
        OpenAIResponses(),
        responses_body({"type": "input_audio", "input_audio": {"data": "", "format": "wav"}}),
        "Supported values are: 'input_text', 'input_image', and 'input_file'",
    ),
    "gemini: base64": (
        GEMINI,
        gemini_body(inline("%%%")),
        "(TYPE_BYTES), Base64 decoding failed",
    ),
    "gemini: GIF in a function response": (
        GEMINI,
        gemini_body(inline(base64.b64encode(OPENINGS["image/gif"]).decode(), "image/gif")),
        "Unsupported MIME type: image/gif",
    ),
    "gemini: audio in a function response": (
        GEMINI,
        gemini_body(inline(base64.b64encode(b"RIFF").decode(), "audio/wav")),
        "Unsupported MIME type: audio/wav",
    ),
    "gemini: no image": (
        GEMINI,
        gemini_body(inline(base64.b64encode(b"hello").decode())),
        "Unable to process input image",
    ),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_malformed_media_are_refused_as_the_api_refuses_them(case):
    wire, body, fragment = REFUSALS[case]
    with pytest.raises(WireError) as refused:
        wire.parse(body, ROUTE)
    assert fragment in refused.value.message
    assert wire.error_body(refused.value)  # the provider's error shape


def test_a_medium_costs_tokens_as_an_image_not_as_its_base64_words():
    small = AnthropicMessages().parse(anthropic_body(image_block()))
    big_png = PNG + bytes(range(256)) * 400  # 100 KB more
    big = AnthropicMessages().parse(anthropic_body(image_block(base64.b64encode(big_png).decode())))
    assert big.input_tokens - small.input_tokens == len(big_png) // 1024
    text = AnthropicMessages().parse(anthropic_body({"type": "text", "text": "x"}))
    assert 85 <= small.input_tokens - text.input_tokens < 130  # 85, and the block's fields


SCRIPT = {
    "turns": [
        {"calls": [{"name": "shot"}, {"name": "shot"}]},
        {"when": "any_media", "text": "0: {media[0]}; 1: {media[1]}; 2: {media[2]}"},
        {"text": "no media: {result[0]}"},
    ]
}


def answer(history: list[Exchange]) -> str:
    scenario = parse_scenario(json.dumps(SCRIPT))
    return plan_reply(scenario, history, max_calls=None, id_prefix="p_").text


def test_a_scenario_sees_which_results_held_media():
    plain = ReceivedResult("p_1", "text")
    shot = ReceivedResult("p_2", "x", parts=("x", Image(PNG), Audio(b"RIFF")))
    assert answer([Exchange(2, (plain, shot))]) == (
        "0: none; 1: [image: image/png, 69 bytes], [audio: audio/wav, 4 bytes]; 2: <no result 2>"
    )
    assert answer([Exchange(2, (plain, plain))]) == "no media: text"
    attached = Exchange(2, (plain, plain), attached=("hear:", Audio(b"RIFF")))
    assert answer([attached]).startswith("0: none; 1: none")
