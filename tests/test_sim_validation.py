"""Requests the real APIs refuse get a 400 in that provider's own error shape."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx2
import pytest

from tests._sim import TOOLS, openai_tools

USE = {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}
USE2 = {"type": "tool_use", "id": "toolu_2", "name": "get_time", "input": {}}


def result(use_id: str) -> dict[str, Any]:
    return {"type": "tool_result", "tool_use_id": use_id, "content": "ok"}


def a_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": "m",
        "max_tokens": 100,
        "tools": TOOLS,
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": [{"type": "text", "text": "ok"}, USE, USE2]},
            {"role": "user", "content": [result("toolu_1"), result("toolu_2")]},
        ],
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


def a_turns(*user_content: Any) -> list[dict[str, Any]]:
    messages = a_body()["messages"][:2]
    return [*messages, *({"role": "user", "content": c} for c in user_content)]


ANTHROPIC_CASES = {
    "unanswered tool_use": (a_body(messages=a_turns([result("toolu_1")])), "toolu_2"),
    "results split over two messages": (
        a_body(messages=a_turns([result("toolu_1")], [result("toolu_2")])),
        "without `tool_result` blocks immediately after",
    ),
    "tool_use ends the conversation": (a_body(messages=a_turns()), "messages.1: `tool_use` ids"),
    "unknown tool_use_id": (
        a_body(messages=a_turns([result("toolu_1"), result("toolu_2"), result("toolu_9")])),
        "unexpected `tool_use_id`",
    ),
    "duplicate tool_result": (
        a_body(messages=a_turns([result("toolu_1"), result("toolu_1"), result("toolu_2")])),
        "duplicate",
    ),
    "tool_result after text": (
        a_body(
            messages=a_turns([{"type": "text", "text": "x"}, result("toolu_1"), result("toolu_2")])
        ),
        "must come first",
    ),
    "tool_result without tool_use": (
        a_body(messages=[{"role": "user", "content": [result("toolu_1")]}]),
        "unexpected `tool_use_id`",
    ),
    "bad tool name": (
        a_body(tools=[{"name": "get weather", "input_schema": {"type": "object"}}]),
        "String should match pattern",
    ),
    "tool name too long": (
        a_body(tools=[{"name": "x" * 65, "input_schema": {"type": "object"}}]),
        "String should match pattern",
    ),
    "missing input_schema": (a_body(tools=[{"name": "t"}]), "input_schema: Field required"),
    "duplicate tool names": (a_body(tools=[TOOLS[0], TOOLS[0]]), "unique"),
    "first message from assistant": (
        a_body(messages=[{"role": "assistant", "content": "hi"}]),
        "first message",
    ),
    "system role in messages": (
        a_body(messages=[{"role": "system", "content": "hi"}]),
        "'user' or 'assistant'",
    ),
    "missing max_tokens": (a_body(max_tokens=None), "max_tokens: Field required"),
    "missing model": (a_body(model=None), "model: Field required"),
    "no messages": (a_body(messages=[]), "at least one message"),
    "bad tool_choice": (a_body(tool_choice={"type": "sometimes"}), "tool_choice"),
}


def o_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": "m",
        "tools": openai_tools(),
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "hi"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [call("call_1", "get_weather"), call("call_2", "get_time")],
            },
            tool("call_1"),
            tool("call_2"),
        ],
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


def call(call_id: str, name: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": "{}"}}


def tool(call_id: str) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call_id, "content": "ok"}


def o_turns(*after: dict[str, Any]) -> list[dict[str, Any]]:
    return [*o_body()["messages"][:3], *after]


def fn_tool(function: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"type": "function", "function": function}]


OPENAI_CASES = {
    "unanswered tool call": (o_body(messages=o_turns(tool("call_1"))), "call_2"),
    "user message before the answers": (
        o_body(messages=o_turns(tool("call_1"), {"role": "user", "content": "x"}, tool("call_2"))),
        "did not have response messages: call_2",
    ),
    "unknown tool_call_id": (
        o_body(messages=o_turns(tool("call_1"), tool("call_2"), tool("call_9"))),
        "'call_9' not found",
    ),
    "duplicate answer": (
        o_body(messages=o_turns(tool("call_1"), tool("call_1"), tool("call_2"))),
        "duplicate",
    ),
    "tool message without tool_calls": (
        o_body(messages=[{"role": "user", "content": "hi"}, tool("call_1")]),
        "must be a response to a preceeding message with 'tool_calls'",
    ),
    "bad tool name": (
        o_body(tools=fn_tool({"name": "get.weather", "parameters": {}})),
        "does not match pattern",
    ),
    "tool name too long": (
        o_body(tools=fn_tool({"name": "x" * 65, "parameters": {}})),
        "string too long",
    ),
    "missing parameters": (o_body(tools=fn_tool({"name": "t"})), "function.parameters"),
    "not a function tool": (o_body(tools=[{"type": "magic"}]), "tools[0].type"),
    "unknown role": (o_body(messages=[{"role": "robot", "content": "x"}]), "'robot'"),
    "missing model": (o_body(model=None), "model"),
    "no messages": (o_body(messages=[]), "empty array"),
    "parallel_tool_calls without tools": (
        o_body(tools=None, messages=[{"role": "user", "content": "x"}], parallel_tool_calls=False),
        "only allowed when 'tools' are specified",
    ),
    "stream_options without stream": (o_body(stream_options={"include_usage": True}), "stream"),
}


@pytest.fixture
def send(sim):
    """POST one body to the shared loopback server; returns the response and its log records."""

    async def post(path: str, body: Any) -> httpx2.Response:
        async with httpx2.AsyncClient(base_url=sim.base_url) as client:
            if isinstance(body, bytes):
                return await client.post(path, content=body)
            return await client.post(path, json=body)

    def run(path: str, body: Any) -> tuple[httpx2.Response, list[Any]]:
        before = len(sim.log)
        response = asyncio.run(post(path, body))
        return response, sim.log[before:]

    return run


def test_the_valid_bodies_are_valid(send):
    for path, body in [("/v1/messages", a_body()), ("/v1/chat/completions", o_body())]:
        response, log = send(path, body)
        assert response.status_code == 200, response.text
        assert [r.status for r in log] == [200]


@pytest.mark.parametrize("case", list(ANTHROPIC_CASES))
def test_anthropic_refusals(send, case):
    body, fragment = ANTHROPIC_CASES[case]
    response, log = send("/v1/messages", body)
    assert response.status_code == 400
    data = response.json()
    assert data["type"] == "error"
    assert data["error"]["type"] == "invalid_request_error"
    assert set(data["error"]) == {"type", "message"}
    assert fragment in data["error"]["message"]
    assert [(r.status, r.error) for r in log] == [(400, data["error"]["message"])]


@pytest.mark.parametrize("case", list(OPENAI_CASES))
def test_openai_refusals(send, case):
    body, fragment = OPENAI_CASES[case]
    response, _ = send("/v1/chat/completions", body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"
    assert fragment in error["message"] or fragment in (error["param"] or "")


@pytest.mark.parametrize("path", ["/v1/messages", "/v1/chat/completions"])
def test_body_that_is_not_json(send, path):
    response, _ = send(path, b"{not json")
    assert response.status_code == 400
    assert "not valid JSON" in str(response.json())
