"""Plain-HTTP clients for the simulator: SSE parsing, stream reassembly, a tool-running loop."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx2

from volley.sim import Scenario, SimServer, parse_scenario

TOOLS = [
    {"name": "get_weather", "description": "Weather.", "input_schema": {"type": "object"}},
    {"name": "get_time", "description": "Time.", "input_schema": {"type": "object"}},
]

SCENARIO = parse_scenario(
    json.dumps(
        {
            "latency": {"ttft": 0.5, "per_output_token": 0.01, "per_input_token": 0.001},
            "turns": [
                {
                    "text": "Let me check three things.",
                    "calls": [
                        {"name": "get_weather", "arguments": {"city": "Paris"}},
                        {"name": "get_weather", "arguments": {"city": "Berlin", "days": [1, 2]}},
                        {"name": "get_time", "arguments": {"zone": "Europe/Rome"}},
                    ],
                },
                {"when": "any_error", "text": "Something failed: {results}"},
                {"text": "Paris: {result[0]}; Berlin: {result[1]}; time: {result[2]} ({name[2]})."},
            ],
            "final": {"text": "Nothing more to say."},
        }
    )
)
FINAL = (
    "Paris: get_weather Paris; Berlin: get_weather Berlin; time: get_time Europe/Rome (get_time)."
)


def parse_sse(text: str) -> list[tuple[str | None, str]]:
    """(event name, data) of each SSE event; checks the framing on the way."""
    events = []
    assert text.endswith("\n\n")
    for block in text.split("\n\n")[:-1]:
        name, data = None, None
        for line in block.split("\n"):
            field, _, value = line.partition(": ")
            if field == "event":
                name = value
            else:
                assert field == "data", line
                data = value
        assert data is not None
        events.append((name, data))
    return events


def assemble_anthropic(text: str) -> dict[str, Any]:
    """The message an Anthropic stream describes, checking the event order as it goes."""
    events = parse_sse(text)
    names = [n for n, _ in events]
    assert names[0] == "message_start"
    assert names[-2:] == ["message_delta", "message_stop"]
    assert "ping" in names
    message: dict[str, Any] = {}
    partial: dict[int, str] = {}
    open_index = None
    for name, data in events:
        event = json.loads(data)
        assert event["type"] == name
        if name == "message_start":
            message = event["message"]
            assert message["content"] == []
        elif name == "content_block_start":
            assert open_index is None
            open_index = event["index"]
            assert open_index == len(message["content"])
            message["content"].append(event["content_block"])
        elif name == "content_block_delta":
            assert event["index"] == open_index
            block, delta = message["content"][open_index], event["delta"]
            if delta["type"] == "text_delta":
                block["text"] += delta["text"]
            else:
                assert delta["type"] == "input_json_delta"
                partial[open_index] = partial.get(open_index, "") + delta["partial_json"]
        elif name == "content_block_stop":
            assert event["index"] == open_index
            if open_index in partial:
                message["content"][open_index]["input"] = json.loads(partial[open_index])
            open_index = None
        elif name == "message_delta":
            message.update(event["delta"])
            message["usage"].update(event["usage"])
    return message


def assemble_openai(text: str, *, ollama: bool = False) -> dict[str, Any]:
    """The ``chat.completion`` an OpenAI stream describes (usage only with include_usage)."""
    events = parse_sse(text)
    assert events[-1] == (None, "[DONE]")
    chunks = [json.loads(data) for _, data in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    message: dict[str, Any] = {"role": "assistant", "content": None, "refusal": None}
    calls: list[dict[str, Any]] = []
    finish, usage = None, None
    for chunk in chunks:
        if not chunk["choices"]:
            usage = chunk["usage"]
            continue
        assert finish is None
        choice = chunk["choices"][0]
        delta = choice["delta"]
        if delta.get("content"):
            message["content"] = (message["content"] or "") + delta["content"]
        for part in delta.get("tool_calls", []):
            if ollama:
                assert part["index"] == 0
                if part.get("id"):
                    calls.append({"id": part["id"], "type": "function", "function": {}})
                call = calls[-1]
            else:
                if part["index"] == len(calls):
                    calls.append({"id": part["id"], "type": "function", "function": {}})
                call = calls[part["index"]]
            function = part["function"]
            if "name" in function:
                call["function"]["name"] = function["name"]
            call["function"]["arguments"] = call["function"].get("arguments", "") + function.get(
                "arguments", ""
            )
        finish = choice["finish_reason"]
    if calls:
        message["tool_calls"] = calls
    result: dict[str, Any] = {
        "id": chunks[0]["id"],
        "object": "chat.completion",
        "created": chunks[0]["created"],
        "model": chunks[0]["model"],
        "system_fingerprint": None,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
    }
    if usage is not None:
        result["usage"] = usage
    return result


def assemble_responses(text: str) -> dict[str, Any]:
    """The ``response`` a Responses stream describes, its output rebuilt from the deltas."""
    events = [(name, json.loads(data)) for name, data in parse_sse(text)]
    assert [e["sequence_number"] for _, e in events] == list(range(len(events)))
    assert all(e["type"] == name for name, e in events)
    kinds = [name for name, _ in events]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"
    assert events[0][1]["response"]["output"] == []
    output: list[dict[str, Any]] = []
    done: list[dict[str, Any]] = []
    for name, event in events[2:-1]:
        if name == "response.output_item.added":
            assert event["output_index"] == len(output) == len(done)
            output.append(event["item"])
            continue
        item = output[event["output_index"]]
        if name != "response.output_item.added" and "item_id" in event:
            assert event["item_id"] == item["id"]
        if name == "response.content_part.added":
            item["content"].append(event["part"])
        elif name == "response.output_text.delta":
            item["content"][event["content_index"]]["text"] += event["delta"]
        elif name == "response.output_text.done":
            assert item["content"][event["content_index"]]["text"] == event["text"]
        elif name == "response.function_call_arguments.delta":
            item["arguments"] += event["delta"]
        elif name == "response.function_call_arguments.done":
            assert item["arguments"] == event["arguments"]
            json.loads(item["arguments"])  # complete here
        elif name == "response.output_item.done":
            assert event["item"] == {**item, "status": "completed"}
            done.append(event["item"])
    response: dict[str, Any] = events[-1][1]["response"]
    assert response["output"] == done
    return response


def assemble_gemini(text: str) -> dict[str, Any]:
    """The ``GenerateContentResponse`` a Gemini stream describes: adjacent text parts joined."""
    chunks = [json.loads(data) for name, data in parse_sse(text) if name is None]
    parts: list[dict[str, Any]] = []
    for k, chunk in enumerate(chunks):
        (candidate,) = chunk["candidates"]
        assert ("finishReason" in candidate) == (k == len(chunks) - 1)
        assert chunk["responseId"] == chunks[0]["responseId"]
        for part in candidate["content"]["parts"]:
            if "text" in part and parts and set(parts[-1]) == {"text"}:
                parts[-1] = {"text": parts[-1]["text"] + part["text"]}
            else:
                parts.append(dict(part))
    last = chunks[-1]
    return {
        **last,
        "candidates": [{**last["candidates"][0], "content": {"role": "model", "parts": parts}}],
    }


def openai_tools() -> list[dict[str, Any]]:
    return [
        {
            "type": "function",
            "function": {"name": t["name"], "description": t["description"], "parameters": {}},
        }
        for t in TOOLS
    ]


def responses_tools() -> list[dict[str, Any]]:
    return [
        {"type": "function", "name": t["name"], "description": t["description"], "parameters": {}}
        for t in TOOLS
    ]


def gemini_tools() -> list[dict[str, Any]]:
    declarations = [
        {"name": t["name"], "description": t["description"], "parametersJsonSchema": {}}
        for t in TOOLS
    ]
    return [{"functionDeclarations": declarations}]


PATHS = {
    "anthropic": "/v1/messages",
    "openai_chat": "/v1/chat/completions",
    "openai_responses": "/v1/responses",
}
ASSEMBLE = {
    "anthropic": assemble_anthropic,
    "openai_chat": assemble_openai,
    "openai_responses": assemble_responses,
    "gemini": assemble_gemini,
}


def gemini_path(stream: bool, version: str = "v1", model: str = "sim") -> str:
    if stream:
        return f"/{version}/models/{model}:streamGenerateContent?alt=sse"
    return f"/{version}/models/{model}:generateContent"


async def post(client: httpx2.AsyncClient, fmt: str, body: dict[str, Any]) -> dict[str, Any]:
    """One request; a streamed answer is reassembled, so the caller always gets the JSON shape.

    Gemini has no ``stream`` field: a body's ``stream`` key picks the method and is not sent.
    """
    if fmt == "gemini":
        stream = bool(body.get("stream"))
        path = gemini_path(stream)
        body = {k: v for k, v in body.items() if k != "stream"}
    else:
        stream, path = bool(body.get("stream")), PATHS[fmt]
    response = await client.post(path, json=body)
    assert response.status_code == 200, response.text
    if not stream:
        assert response.headers["content-type"].startswith("application/json")
        return response.json()  # type: ignore[no-any-return]
    assert response.headers["content-type"].startswith("text/event-stream")
    return ASSEMBLE[fmt](response.text)


def tool_output(name: str, arguments: dict[str, Any]) -> str:
    return " ".join([name, *(str(v) for k, v in arguments.items() if k != "days")])


async def converse(
    client: httpx2.AsyncClient, fmt: str, *, stream: bool, parallel: bool = True
) -> tuple[list[dict[str, Any]], str]:
    """Run the scripted conversation to its final answer; returns every response and the answer."""
    responses: list[dict[str, Any]] = []
    if fmt == "anthropic":
        messages: list[dict[str, Any]] = [{"role": "user", "content": "Weather and time?"}]
        body: dict[str, Any] = {"model": "sim", "max_tokens": 1024, "tools": TOOLS}
        if not parallel:
            body["tool_choice"] = {"type": "auto", "disable_parallel_tool_use": True}
        for _ in range(10):
            reply = await post(client, fmt, {**body, "messages": messages, "stream": stream})
            responses.append(reply)
            messages.append({"role": "assistant", "content": reply["content"]})
            uses = [b for b in reply["content"] if b["type"] == "tool_use"]
            if reply["stop_reason"] == "end_turn":
                assert not uses
                return responses, reply["content"][0]["text"]
            results = [
                {
                    "type": "tool_result",
                    "tool_use_id": b["id"],
                    "content": tool_output(b["name"], b["input"]),
                }
                for b in uses
            ]
            messages.append({"role": "user", "content": results})
    elif fmt == "openai_responses":
        items: list[dict[str, Any]] = [{"role": "user", "content": "Weather and time?"}]
        body = {"model": "sim", "tools": responses_tools(), "parallel_tool_calls": parallel}
        for _ in range(10):
            reply = await post(client, fmt, {**body, "input": items, "stream": stream})
            responses.append(reply)
            items += reply["output"]
            calls = [i for i in reply["output"] if i["type"] == "function_call"]
            if not calls:
                (message,) = reply["output"]
                return responses, message["content"][0]["text"]
            items += [
                {
                    "type": "function_call_output",
                    "call_id": c["call_id"],
                    "output": tool_output(c["name"], json.loads(c["arguments"])),
                }
                for c in calls
            ]
    elif fmt == "gemini":
        contents: list[dict[str, Any]] = [{"role": "user", "parts": [{"text": "Weather?"}]}]
        body = {"tools": gemini_tools()}
        for _ in range(10):
            reply = await post(client, fmt, {**body, "contents": contents, "stream": stream})
            responses.append(reply)
            content = reply["candidates"][0]["content"]
            contents.append(content)
            calls = [p["functionCall"] for p in content["parts"] if "functionCall" in p]
            if not calls:
                return responses, content["parts"][0]["text"]
            answers = [
                {
                    "functionResponse": {
                        **({"id": c["id"]} if "id" in c else {}),
                        "name": c["name"],
                        "response": {"output": tool_output(c["name"], c["args"])},
                    }
                }
                for c in calls
            ]
            contents.append({"role": "user", "parts": answers})
    else:
        messages = [{"role": "user", "content": "Weather and time?"}]
        body = {"model": "sim", "tools": openai_tools(), "parallel_tool_calls": parallel}
        for _ in range(10):
            reply = await post(client, fmt, {**body, "messages": messages, "stream": stream})
            responses.append(reply)
            message = reply["choices"][0]["message"]
            messages.append(message)
            if reply["choices"][0]["finish_reason"] == "stop":
                assert "tool_calls" not in message
                return responses, message["content"]
            for call in message["tool_calls"]:
                fn = call["function"]
                content = tool_output(fn["name"], json.loads(fn["arguments"]))
                messages.append({"role": "tool", "tool_call_id": call["id"], "content": content})
    raise AssertionError("no final answer")


@contextmanager
def sim_in_thread(scenario: Scenario, **options: Any) -> Iterator[SimServer]:
    """A SimServer on its own loop in a thread, so many tests can share one loopback server."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    box: dict[str, Any] = {}

    async def serve() -> None:
        box["stop"] = asyncio.Event()
        async with SimServer(scenario, **options) as sim:
            box["sim"] = sim
            started.set()
            await box["stop"].wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    assert started.wait(10)
    try:
        yield box["sim"]
    finally:
        loop.call_soon_threadsafe(box["stop"].set)
        thread.join(10)
        loop.close()
