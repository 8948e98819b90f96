"""Real crashes of durable runs: the scenario, tools that log their effects, kill switches.

Shared by the crash tests (which resume runs in their own process) and `durable_child.py` (the
process that is killed). Every tool appends one line per execution to its run's effect log,
`<run id>.effects` in `EFFECTS_DIR` (opened, appended, flushed and fsync'd per line): what
really ran, whatever the journal says. A process dies by a real SIGKILL, at a point chosen by:

- `KillingJournal`: right before, or right after, its n-th journal write (`begin`, each
  `append`, `end`; "after" a durable append is after its commit);
- `KILL_IN`: inside a tool's body, after its effect line, on its n-th execution;
- `kill_on_response`: while the n-th model request is in flight (its response's headers are in,
  its body not yet read).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
from anthropic import AsyncAnthropic

from volley import Agent, ModelTurn, RunResult, Tool, ToolReturns, tool
from volley._durable import idempotency_key
from volley.journal import Journal, RunInfo, RunStatus, StoredRecord
from volley.journal._codec import FinishedRecord, StartedRecord, TurnRecord, decode, to_result
from volley.providers.anthropic import AnthropicProvider

PROMPT = "Look things up, save two notes, store two values, tell ops."
FINAL = "All done: 3 results."

SCENARIO = json.dumps(
    {
        "turns": [
            {
                "text": "Working on it.",
                "calls": [
                    {"name": "lookup", "arguments": {"topic": "alpha"}},
                    {"name": "lookup", "arguments": {"topic": "beta"}},
                    {"name": "save_note", "arguments": {"name": "n1", "text": "first"}},
                    {"name": "put", "arguments": {"key": "k1", "value": "v1"}},
                    {"name": "notify", "arguments": {"who": "ops"}},
                ],
            },
            {
                "calls": [
                    {"name": "save_note", "arguments": {"name": "n2", "text": "{result[0]}"}},
                    {"name": "lookup", "arguments": {"topic": "gamma"}},
                    {"name": "put", "arguments": {"key": "k2", "value": "{result[1]}"}},
                ],
            },
            {"text": "All done: {result_count} results."},
        ]
    }
)
"""Three turns: five calls (two reads, a declared write, an idempotent write, an undeclared
tool), then three more, then the answer (a text with no braces left once templated)."""

CALLS_PER_TOOL = {"lookup": 3, "save_note": 2, "put": 2, "notify": 1}
MAY_NOT_REPEAT = {"save_note", "notify"}
"""Tools that may write and are not idempotent: never run twice for one call."""

EFFECTS_DIR: Path | None = None
"""Where the effect logs go: set by whoever runs the tools."""

KILL_IN: tuple[str, int] | None = None
"""`(tool, n)`: this process dies inside the n-th execution of `tool`, after its effect."""

BLOCK_IN: tuple[str, int] | None = None
"""`(tool, n)`: the n-th execution of `tool` writes `<run>.blocked` and waits for
`<run>.release` in `EFFECTS_DIR` (a process that holds its run while a test looks)."""

_executions: Counter[str] = Counter()


def reset_counts() -> None:
    """Count executions and requests from zero (in a process forked from one that ran some)."""
    _executions.clear()
    REQUESTS[0] = 0


def effects_path(run_id: str) -> Path:
    assert EFFECTS_DIR is not None, "set _crash.EFFECTS_DIR first"
    return EFFECTS_DIR / f"{run_id}.effects"


async def _effect(name: str) -> None:
    """Log that `name` ran (durably), then die or block here if told to."""
    key = idempotency_key()
    assert key is not None, f"{name} ran without an idempotency key"
    run_id, _turn, call_id = key.rsplit("/", 2)
    fd = os.open(effects_path(run_id), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{name} {call_id} {key}\n".encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    _executions[name] += 1
    if (name, _executions[name]) == KILL_IN:
        os.kill(os.getpid(), signal.SIGKILL)
    if (name, _executions[name]) == BLOCK_IN:
        assert EFFECTS_DIR is not None
        (EFFECTS_DIR / f"{run_id}.blocked").write_text(str(os.getpid()))
        while not (EFFECTS_DIR / f"{run_id}.release").exists():
            await asyncio.sleep(0.02)
    await asyncio.sleep(0)  # the rest of the body: a write's effect is not its end


@tool(effects="read")
async def lookup(topic: str) -> str:
    """Look a topic up."""
    await _effect("lookup")
    return f"about {topic}"


@tool(effects="write", writes=lambda a: [f"note:{a['name']}"])
async def save_note(name: str, text: str) -> str:
    """Save a note."""
    await _effect("save_note")
    return f"saved {name}"


@tool(effects="write", writes=lambda a: [f"kv:{a['key']}"], idempotent=True)
async def put(key: str, value: str) -> str:
    """Store a value under a key (storing it twice is storing it once)."""
    await _effect("put")
    return f"stored {key}"


@tool
async def notify(who: str) -> str:
    """Tell someone (declares nothing: it may write)."""
    await _effect("notify")
    return f"told {who}"


TOOLS: list[Tool[..., Any]] = [lookup, save_note, put, notify]


# -- killing ----------------------------------------------------------------------------------


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


class KillingJournal(Journal):
    """A journal that counts its writes (`ops`) and dies before or after the chosen one.

    `kill` is `("before", n)` or `("after", n)`, writes numbered from 0 in this process:
    `begin` (record 0 of a new run), each `append`, and `end`.
    """

    def __init__(self, inner: Journal, kill: tuple[str, int] | None = None) -> None:
        self.inner = inner
        self.url, self.owner, self.commits = inner.url, inner.owner, 0
        self.kill = kill
        self.ops: list[str] = []
        """Each write's label, in order: `begin`, the record's kind (and tool), `end:<status>`."""

    def _before(self, label: str) -> int:
        number = len(self.ops)
        self.ops.append(label)
        if self.kill == ("before", number):
            die()
        return number

    def _after(self, number: int) -> None:
        if self.kill == ("after", number):
            die()

    async def open(self) -> None:
        await self.inner.open()

    async def aclose(self) -> None:
        await self.inner.aclose()

    async def begin(self, run_id: str, prompt: str, header: str) -> None:
        number = self._before("begin")
        await self.inner.begin(run_id, prompt, header)
        self._after(number)

    async def claim(self, run_id: str) -> RunInfo:
        return await self.inner.claim(run_id)

    def append(self, run_id: str, data: str, *, durable: bool) -> Awaitable[None]:
        number = self._before(label_of(data))
        pending = self.inner.append(run_id, data, durable=durable)
        if not durable:
            self._after(number)
            return pending

        async def committed() -> None:
            await pending
            self._after(number)

        return committed()

    async def flush(self) -> None:
        await self.inner.flush()

    async def renew(self, run_id: str) -> None:
        await self.inner.renew(run_id)

    async def end(
        self, run_id: str, status: RunStatus, *, output: str | None, error: str | None
    ) -> None:
        number = self._before(f"end:{status}")
        await self.inner.end(run_id, status, output=output, error=error)
        self._after(number)

    async def info(self, run_id: str) -> RunInfo | None:
        return await self.inner.info(run_id)

    async def records(self, run_id: str) -> list[StoredRecord]:
        return await self.inner.records(run_id)

    async def runs(self, *, status: RunStatus | None = None, limit: int = 100) -> list[RunInfo]:
        return await self.inner.runs(status=status, limit=limit)


def label_of(data: str) -> str:
    record = decode(data, run_id="?", seq=0)
    if isinstance(record, StartedRecord):
        return f"started:{record.tool}"
    if isinstance(record, FinishedRecord):
        return f"finished:{record.result.name}"
    return record.kind


REQUESTS = [0]
"""Model requests this process sent (through `make_agent`'s agents)."""


async def _count_request(request: Any) -> None:
    REQUESTS[0] += 1


def kill_on_response(n: int | None) -> Callable[[Any], Awaitable[None]]:
    """An httpx response hook that kills the process when the n-th response's headers arrive."""
    seen = 0

    async def hook(response: Any) -> None:
        nonlocal seen
        seen += 1
        if seen == n:
            die()

    return hook


def make_agent(
    sim_url: str,
    journal: Journal | str,
    *,
    streaming: bool = True,
    kill_on_request: int | None = None,
) -> Agent:
    hooks: dict[str, list[Callable[..., Any]]] = {
        "request": [_count_request],
        "response": [kill_on_response(kill_on_request)],
    }
    http = httpx2.AsyncClient(event_hooks=hooks, verify=False)  # plain HTTP: no CA bundle
    client = AsyncAnthropic(base_url=sim_url, api_key="test", max_retries=0, http_client=http)
    provider = AnthropicProvider("claude-sim", client=client)
    return Agent(provider, TOOLS, journal=journal, streaming=streaming, tool_timeout=30.0)


async def close(agent: Agent) -> None:
    """Close an agent of `make_agent` and its SDK client (which the adapter leaves open)."""
    await agent.aclose()
    await agent.model.client.close()  # type: ignore[attr-defined]


# -- reading what happened --------------------------------------------------------------------


@dataclass(frozen=True)
class Effect:
    tool: str
    call_id: str
    key: str


def effects(run_id: str) -> list[Effect]:
    path = effects_path(run_id)
    if not path.exists():
        return []
    lines = path.read_text().splitlines()
    return [Effect(*line.split(" ")) for line in lines]


@dataclass
class Committed:
    """What a run's journal held when its process died."""

    info: RunInfo | None
    records: list[StoredRecord] = field(default_factory=list)
    finished: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    """Idempotency keys of calls whose result was recorded (not as cancelled), in a response
    that was recorded too: its content and error kind (an unknown outcome recorded by an
    earlier resume is final too). A read started early in a response that was never recorded
    is run again when the turn is asked again, as the rules of resuming say."""
    started_writes: set[str] = field(default_factory=set)
    """Keys of calls recorded as started that may write and are not idempotent."""


async def committed(journal: Journal, run_id: str) -> Committed:
    info = await journal.info(run_id)
    if info is None:
        return Committed(None)
    found = Committed(info, await journal.records(run_id))
    responses: set[tuple[int, int]] = set()
    finished: list[tuple[tuple[int, int], str, tuple[str, str | None]]] = []
    for stored in found.records[1:]:
        record = decode(stored.data, run_id=run_id, seq=stored.seq)
        if isinstance(record, TurnRecord):
            responses.add((record.turn, record.attempt))
        elif isinstance(record, FinishedRecord):
            result = to_result(record.result)
            if result.error_kind != "cancelled":
                key = f"{run_id}/{record.turn}/{result.call_id}"
                finished.append(
                    ((record.turn, record.attempt), key, (result.content, result.error_kind))
                )
        elif isinstance(record, StartedRecord) and record.writes and not record.idempotent:
            found.started_writes.add(f"{run_id}/{record.turn}/{record.call_id}")
    # An early read's result can be recorded before its response is: it counts once that is.
    found.finished = {key: answer for response, key, answer in finished if response in responses}
    return found


@dataclass
class Outcome:
    """One kill point's story, as the process that resumed the run saw it."""

    point: str
    killed: int
    """The exit code of the process that was to die at `point` (-9: SIGKILL)."""
    before: Committed
    effects_before: list[Effect]
    not_found: bool
    """The run was not in the journal (killed before its first record): run afresh."""
    result: RunResult
    effects_after: list[Effect]
    status: RunStatus | None
    again: RunResult
    """`agent.run(PROMPT, run_id=...)` once more, after the run finished."""
    requests_again: int
    """Model requests that second run sent."""
    first: tuple[int, Committed, list[Effect]] | None = None
    """For a run killed twice (the second time while resuming): the first process's exit
    code, and the journal and effects it left; `killed` and `before` are then the second's."""


EXPECTED_CALLS = [
    [
        ("lookup", {"topic": "alpha"}),
        ("lookup", {"topic": "beta"}),
        ("save_note", {"name": "n1", "text": "first"}),
        ("put", {"key": "k1", "value": "v1"}),
        ("notify", {"who": "ops"}),
    ],
    [("save_note", {"name": "n2"}), ("lookup", {"topic": "gamma"}), ("put", {"key": "k2"})],
]


def check_resumed(
    run_id: str,
    before: Committed,
    effects_before: Sequence[Effect],
    effects_after: Sequence[Effect],
    result: RunResult,
    status: RunStatus | None,
) -> None:
    """The rules of resuming, checked against what really ran and the final conversation."""
    where = f"run {run_id}"
    assert result.output == FINAL, where
    assert status == "finished", where
    ran_before = Counter(e.key for e in effects_before)
    ran = Counter(e.key for e in effects_after)
    assert list(effects_after[: len(effects_before)]) == list(effects_before), where
    for effect in effects_after:
        run, turn, call_id = effect.key.rsplit("/", 2)
        assert run == run_id, effect
        assert call_id == effect.call_id, effect
        assert turn in ("1", "2"), effect
    # A call whose result was recorded never ran again.
    for key in before.finished:
        assert ran[key] == ran_before[key], f"{where}: {key} finished, yet ran again"
    # A call that may write and is not idempotent ran at most once, whatever happened.
    for effect in effects_after:
        if effect.tool in MAY_NOT_REPEAT:
            assert ran[effect.key] == 1, f"{where}: {effect.key} ran {ran[effect.key]} times"
    # The conversation: every call has exactly one result, in order, and what it says is true.
    turns = [m for m in result.messages if isinstance(m, ModelTurn)]
    assert len(turns) == 3, where
    assert not turns[-1].calls, where
    assert turns[-1].text == FINAL, where
    unknown: set[str] = set()
    for number, turn_message in enumerate(turns[:-1], start=1):
        position = result.messages.index(turn_message)
        returns = result.messages[position + 1]
        assert isinstance(returns, ToolReturns), where
        calls = turn_message.calls
        assert [r.call_id for r in returns.results] == [c.id for c in calls], where
        expected = EXPECTED_CALLS[number - 1]
        assert [c.name for c in calls] == [name for name, _ in expected], where
        for call, (_, arguments) in zip(calls, expected, strict=True):
            given = call.arguments
            given = json.loads(given) if isinstance(given, str) else dict(given)
            assert given.items() >= arguments.items(), (where, call)
        for call, answer in zip(calls, returns.results, strict=True):
            key = f"{run_id}/{number}/{call.id}"
            if key in before.finished:  # the recorded result, as it was recorded
                assert (answer.content, answer.error_kind) == before.finished[key], (where, key)
            if answer.error_kind == "outcome_unknown":
                unknown.add(key)
                assert call.name in MAY_NOT_REPEAT, (where, call)
                assert ran[key] == ran_before[key] <= 1, (where, key)
            else:
                assert not answer.is_error, (where, answer)
                assert ran[key] >= 1, f"{where}: {key} answered but never ran"
    # Exactly the interrupted writes were answered "outcome unknown" (now, or by a resume before
    # this one, which recorded it), and none of them ran again.
    assert unknown <= before.started_writes, where
    assert before.started_writes - before.finished.keys() <= unknown, where
    assert len([m for m in result.messages if isinstance(m, ToolReturns)]) == 2, where
    assert sum(CALLS_PER_TOOL.values()) == sum(len(t.calls) for t in turns), (
        where
    )  # the same calls as the scenario, one message each


def wait_for(path: Path, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} never appeared")
        time.sleep(0.02)


def twice(mode: str, firsts: Iterable[str], writes: int) -> list[str]:
    """Kill points of runs killed twice: at each of `firsts`, then while resuming, before and
    after each of its first `writes` journal writes, and inside the first lookup it runs."""
    seconds = [f"{when}:{n}" for n in range(writes) for when in ("before", "after")]
    seconds.append("in:lookup:1")
    return [f"{mode}.{first}+{second}" for first in firsts for second in seconds]


def points(mode: str, ops: Iterable[str]) -> list[str]:
    """Every kill point of a clean run whose journal writes were `ops` (see durable_child):
    before and after each write, inside each call, during each model request."""
    count = len(list(ops))
    found = [f"{when}:{n}" for n in range(count) for when in ("before", "after")]
    found += [f"in:{name}:{n}" for name, k in CALLS_PER_TOOL.items() for n in range(1, k + 1)]
    found += [f"request:{n}" for n in (1, 2, 3)]
    return [f"{mode}.{point}" for point in found]
