"""8. MCP: a server's tools through volley against the SDK's own client, on one session.

The server is `volley.bench._mcp_server`, built on the SDK's server API and started as a
subprocess, spoken to over stdio and over Streamable HTTP. The raw calls go through the very
`mcp.Client` session volley holds, so that both sides talk to one server process and the
ratios hold what volley adds, nothing else. Per transport:

- reads: N calls of a read-only tool that waits D seconds on the server, through volley, one
  by one with the raw SDK, and with the raw SDK's `asyncio.gather` of `client.call_tool`;
- overhead: N calls of a no-op read through volley against the same N raw calls, gathered;
  what an MCP call costs is mostly the SDK's (JSON-RPC, pydantic on both sides, the process
  boundary), so volley's part should disappear in it;
- a mixed batch (stdio): reads and writes of the server plus a local tool. The writes run
  alone on the server, in the order written, while the reads around them overlap and the
  local tool runs alongside; a raw gather is faster but runs the writes unordered.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from mcp import Client

from volley import Executor, Tool, ToolCall, ToolResult, tool
from volley.mcp import MCPServer

from ._harness import Goal, Report, Timings, compare, ms, stopwatch, times
from ._mcp_process import SERVER, STARTUP, HTTPServer, server_env

LIMIT = 1.05


@dataclass(frozen=True, slots=True)
class Sizes:
    reads: int
    delay: float
    calls: int
    """No-op calls for the overhead over stdio; `http_calls` over HTTP, where a call costs more
    and holds a connection of the HTTP client's pool (100) while in flight."""
    http_calls: int
    rounds: int
    overhead_rounds: int
    warmup: int
    """Untimed rounds before the reads and the mixed batch (the overhead always has one)."""
    http_reads: bool
    """Whether the reads row runs over HTTP too (the overhead row always does)."""


FULL = Sizes(
    reads=10,
    delay=0.1,
    calls=200,
    http_calls=50,
    rounds=5,
    overhead_rounds=31,
    warmup=1,
    http_reads=True,
)
QUICK = Sizes(
    reads=10,
    delay=0.02,
    calls=30,
    http_calls=30,
    rounds=1,
    overhead_rounds=2,
    warmup=0,
    http_reads=False,
)


async def local_lookup(key: str, delay: float) -> str:
    """A local tool, in this process, next to the server's."""
    await asyncio.sleep(delay)
    return f"local {key}"


LOCAL = tool(reads=lambda a: [f"local:{a['key']}"])(local_lookup)

RawCall = tuple[str, dict[str, Any]]
"""A tool's name on the server (or `local_lookup`) and its arguments."""


async def run(quick: bool = False) -> Report:
    sizes = QUICK if quick else FULL
    report = Report(
        key="mcp",
        title=(
            f"8. MCP tools on one session: volley against the raw SDK client "
            f"(rounds: {sizes.rounds}, {sizes.overhead_rounds} for the overhead; interleaved)"
        ),
        columns=[
            "transport",
            "calls",
            "volley",
            "one by one",
            "raw SDK gather",
            "speed-up",
            "volley / gather",
        ],
    )
    # The HTTP server starts while the stdio server starts and is measured.
    async with HTTPServer() as web:
        python, args = sys.executable, ["-m", SERVER, "stdio"]
        stdio = MCPServer.stdio(
            python, args, env=server_env(), name="bench", connect_timeout=STARTUP
        )
        async with stdio:
            await _measure(report, "stdio", stdio, sizes, reads=True, mixed=True)
        url = await web.ready()
        async with MCPServer.http(url, name="bench", connect_timeout=STARTUP) as http:
            await _measure(report, "HTTP", http, sizes, reads=sizes.http_reads)

    report.notes += [
        f"reads: {sizes.reads} calls of a read-only tool that waits {ms(sizes.delay)} on the "
        "server; speed-up: one by one over volley; ratios are medians of per-round ratios",
        "overhead: no-op reads, all at once (volley's max_concurrency lets them), against "
        "asyncio.gather of client.call_tool; per call: wall time over calls",
        "raw calls go through the same mcp.Client session as volley's (one server process), "
        "so that the ratios hold what volley adds and nothing else",
        "mixed: read a, read b, write a, local tool, read c, read d, write b; the server's writes "
        "run alone, in order; raw gather runs them at once with the reads, unordered",
    ]
    return report


def _session(server: MCPServer) -> Client:
    """The SDK client volley holds for `server` (open), for the raw calls to compare with."""
    connection = server._connection
    assert connection is not None, "the server is not open"
    return connection.client


async def _measure(
    report: Report,
    transport: str,
    server: MCPServer,
    sizes: Sizes,
    *,
    reads: bool,
    mixed: bool = False,
) -> None:
    tools = await server.list_tools()
    raw = _session(server)
    if reads:
        await _reads(report, transport, tools, raw, sizes)
    await _overhead(report, transport, tools, raw, sizes)
    if mixed:
        await _mixed(report, transport, tools, raw, sizes)


async def _reads(
    report: Report, transport: str, tools: Sequence[Tool[..., Any]], raw: Client, sizes: Sizes
) -> None:
    work: list[RawCall] = [
        ("read", {"key": f"k{i}", "delay": sizes.delay}) for i in range(sizes.reads)
    ]
    timings, results = await _race(
        tools, raw, work, sizes.rounds, warmup=sizes.warmup, sequential=True
    )
    label = f"{sizes.reads} reads of {ms(sizes.delay)}"
    speed_up = timings.ratio("one by one", "volley")
    vs_gather = timings.ratio("volley", "raw gather")
    report.rows.append(
        [
            transport,
            label,
            ms(timings.median("volley")),
            ms(timings.median("one by one")),
            ms(timings.median("raw gather")),
            f"{speed_up:.2f}x",
            times(vs_gather),
        ]
    )
    report.figures[f"{transport} reads speed-up"] = speed_up
    report.figures[f"{transport} reads volley / gather"] = vs_gather
    report.figures[f"{transport} reads volley s"] = timings.median("volley")
    report.check(f"{transport}: every read succeeded", _all_ok(results, sizes.reads))


async def _overhead(
    report: Report, transport: str, tools: Sequence[Tool[..., Any]], raw: Client, sizes: Sizes
) -> None:
    n = sizes.http_calls if transport == "HTTP" else sizes.calls
    noops: list[RawCall] = [("noop", {"i": i}) for i in range(n)]
    timings, results = await _race(
        tools, raw, noops, sizes.overhead_rounds, warmup=1, sequential=False
    )
    ratio = timings.ratio("volley", "raw gather")
    per_call = timings.median("volley") / n
    raw_per_call = timings.median("raw gather") / n
    report.rows.append(
        [
            transport,
            f"overhead, {n} no-op calls",
            f"{per_call * 1e3:.2f} ms per call",
            "—",
            f"{raw_per_call * 1e3:.2f} ms per call",
            "—",
            times(ratio),
        ]
    )
    report.figures[f"{transport} overhead volley / gather"] = ratio
    report.figures[f"{transport} overhead volley us_per_call"] = per_call * 1e6
    report.figures[f"{transport} overhead gather us_per_call"] = raw_per_call * 1e6
    report.goals.append(Goal(f"{transport}: MCP call through volley / raw SDK", ratio, LIMIT))
    report.check(f"{transport}: every no-op call succeeded", _all_ok(results, n))


async def _race(
    tools: Sequence[Tool[..., Any]],
    raw: Client,
    work: Sequence[RawCall],
    rounds: int,
    *,
    warmup: int,
    sequential: bool,
) -> tuple[Timings, list[list[ToolResult]]]:
    """Time `work` through volley, with the raw SDK gathered, and (if asked) one by one."""
    calls = [ToolCall(f"c{i}", name, arguments) for i, (name, arguments) in enumerate(work)]
    outcomes: list[list[ToolResult]] = []

    async def through_volley() -> float:
        async with Executor(tools, max_concurrency=max(64, len(calls))) as ex:

            async def go() -> None:
                outcomes.append(await ex.run(calls))

            return await stopwatch(go)

    async def gathered() -> float:
        return await stopwatch(lambda: asyncio.gather(*(_raw(raw, call) for call in work)))

    async def one_by_one() -> float:
        async def go() -> None:
            for call in work:
                await _raw(raw, call)

        return await stopwatch(go)

    variants: dict[str, Callable[[], Awaitable[float]]] = {
        "volley": through_volley,
        "raw gather": gathered,
    }
    if sequential:
        variants["one by one"] = one_by_one
    return await compare(variants, rounds=rounds, warmup=warmup), outcomes


async def _raw(raw: Client, call: RawCall) -> Any:
    name, arguments = call
    if name == "local_lookup":
        return await local_lookup(**arguments)
    result = await raw.call_tool(name, arguments)
    if result.is_error:
        raise RuntimeError(f"the raw call of {name} failed: {result.content}")
    return result


async def _mixed(
    report: Report, transport: str, tools: Sequence[Tool[..., Any]], raw: Client, sizes: Sizes
) -> None:
    d = sizes.delay
    work: list[RawCall] = [
        ("read", {"key": "a", "delay": d}),
        ("read", {"key": "b", "delay": d}),
        ("write", {"key": "a", "text": "new", "delay": d}),
        ("local_lookup", {"key": "x", "delay": d}),
        ("read", {"key": "c", "delay": d}),
        ("read", {"key": "d", "delay": d}),
        ("write", {"key": "b", "text": "new", "delay": d}),
    ]
    timings, results = await _race(
        [*tools, LOCAL], raw, work, sizes.rounds, warmup=sizes.warmup, sequential=True
    )
    speed_up = timings.ratio("one by one", "volley")
    vs_gather = timings.ratio("volley", "raw gather")
    report.rows.append(
        [
            transport,
            "mixed: 4 reads, 2 writes, 1 local",
            ms(timings.median("volley")),
            ms(timings.median("one by one")),
            f"{ms(timings.median('raw gather'))} (unordered)",
            f"{speed_up:.2f}x",
            times(vs_gather),
        ]
    )
    report.figures[f"{transport} mixed speed-up"] = speed_up
    report.figures[f"{transport} mixed volley / gather"] = vs_gather
    report.figures[f"{transport} mixed volley / 4 delays"] = timings.median("volley") / (4 * d)
    report.check(f"{transport} mixed: every call succeeded", _all_ok(results, len(work)))
    spans = [[_span(result) for result in batch] for batch in results]
    server_calls = [0, 1, 2, 4, 5, 6]
    alone = all(_alone_in_order(batch, write, server_calls) for batch in spans for write in (2, 6))
    report.check(f"{transport} mixed: each write ran alone on the server, in order", alone)
    report.check(
        f"{transport} mixed: the reads around the writes overlapped",
        all(_overlap(batch[0], batch[1]) and _overlap(batch[4], batch[5]) for batch in spans),
    )
    report.check(
        f"{transport} mixed: the local tool did not wait for the server's write",
        all(batch[3][0] < batch[2][1] for batch in spans),
    )


Span = tuple[float, float]


def _span(result: ToolResult) -> Span:
    """When a call started and ended (a call that never ran would fail the checks anyway)."""
    if result.started_at is None or result.ended_at is None:
        return (float("nan"), float("nan"))
    return (result.started_at, result.ended_at)


def _alone_in_order(batch: list[Span], write: int, others: list[int]) -> bool:
    start, end = batch[write]
    before = all(batch[i][1] <= start for i in others if i < write)
    after = all(batch[i][0] >= end for i in others if i > write)
    return before and after


def _overlap(a: Span, b: Span) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def _all_ok(batches: list[list[ToolResult]], n: int) -> bool:
    return bool(batches) and all(len(b) == n and not any(r.is_error for r in b) for b in batches)
