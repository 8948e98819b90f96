"""An MCP server that misbehaves (tests/mcp_servers/hostile.py): every call still gets one clear
answer, a bad listing costs only its bad parts, and nothing hangs."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from _mcp import ROOT

from volley import ErrorKind, Executor, ToolCall, ToolResult
from volley.mcp import MCPServer

pytestmark = pytest.mark.timeout(120)


def hostile(**env: str) -> MCPServer:
    return MCPServer.stdio(
        sys.executable, ["-m", "tests.mcp_servers.hostile", "stdio"], env=env, cwd=ROOT,
        name="hostile",
    )  # fmt: skip


class Connected:
    def __init__(self, server: MCPServer) -> None:
        self.runner = asyncio.Runner()
        self.server = server
        self.tools = self.runner.run(self._open())

    async def _open(self) -> Any:
        await self.server.open()
        return await self.server.list_tools()

    def call(self, name: str, arguments: str = "{}") -> ToolResult:
        async def main() -> ToolResult:
            async with Executor(self.tools, timeout=20, max_content_chars=1_000) as ex:
                (result,) = await ex.run([ToolCall("c", name, arguments)])
                return result

        return self.runner.run(main())

    def close(self) -> None:
        self.runner.run(self.server.aclose())
        self.runner.close()


@pytest.fixture(scope="module")
def connected() -> Iterator[Connected]:
    opened = Connected(hostile())
    yield opened
    opened.close()


def test_every_page_is_read_and_a_name_listed_twice_is_used_once(connected: Connected) -> None:
    names = [t.name for t in connected.tools]
    assert names[0] == "echo"
    assert names.count("echo") == 1
    assert "no_description" in names  # from the last of four pages
    assert connected.call("echo", '{"text": "hi"}').content == "hi"


def test_a_listing_that_pages_forever_is_cut(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, "volley.mcp"):
        looping = Connected(hostile(HOSTILE_CURSOR_LOOP="1"))
        looping.close()
    assert "repeats a listing cursor" in caplog.text
    assert [t.name for t in looping.tools].count("echo") == 1


def test_a_huge_answer_is_cut_with_a_note(connected: Connected) -> None:
    result = connected.call("huge")
    assert not result.is_error
    assert "[output cut: 5,000,000 characters in all, the first 1,000 shown]" in result.content


def test_many_blocks_are_joined_and_cut(connected: Connected) -> None:
    result = connected.call("many_blocks")
    assert result.content.startswith("0\n1\n2\n")
    assert "[output cut:" in result.content


def test_media_that_is_not_base64_is_described_not_sent(connected: Connected) -> None:
    result = connected.call("bad_image")
    assert not result.is_error
    assert result.parts == ()  # nothing to send as an image
    assert "image of type image/png: its data is not valid base64" in result.content


def test_an_error_without_words_still_says_something(connected: Connected) -> None:
    result = connected.call("silent_error")
    assert result.error_kind == ErrorKind.EXCEPTION
    assert "reported an error without a message" in result.content


def test_resources_become_text_the_model_can_read(connected: Connected) -> None:
    content = connected.call("resources").content
    assert "[resource link: a.txt <file:///a.txt>]" in content
    assert "[resource file:///b.txt]\nbee" in content
    assert "application/octet-stream, about 3 bytes, not shown" in content


def test_a_server_that_fails_inside_its_own_answer_gives_an_error_result(
    connected: Connected,
) -> None:
    result = connected.call("deep")  # the server cannot serialize what it made
    assert result.error_kind == ErrorKind.EXCEPTION
    assert "refused the call" in result.content
    assert connected.call("echo", '{"text": "still here"}').content == "still here"
