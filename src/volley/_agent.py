"""The agent loop: model turn, all of its calls at once, all results in one message, repeat."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from typing import Any

from tenacity.wait import wait_base

from ._backend import Backend
from ._deadlines import loop_clock
from ._durable import ApprovalPolicy, Approvals
from ._errors import ConfigurationError, IncompleteTurn, MaxTurnsExceeded, RunError
from ._events import (
    RunEvent,
    RunFailed,
    RunFinished,
    RunPaused,
    RunStarted,
    events_of,
)
from ._loop import play_turns
from ._messages import Message, UserPrompt
from ._opening import Opened, open_fresh, open_resumed
from ._plan import Plans
from ._result import RunResult
from ._sources import SourcedTools, ToolSource
from ._stats import RunStats
from ._tool import Tool
from ._toolbox import Toolbox
from ._turn import Emit, Patience
from .journal import Journal, open_journal
from .providers import Provider, resolve

__all__ = [
    "BATCHING_HINT",
    "Agent",
    "IncompleteTurn",
    "MaxTurnsExceeded",
    "RunError",
    "RunResult",
]

BATCHING_HINT = (
    "You can call several tools in one response, and they run at the same time. When calls do "
    "not need each other's results (reading several files, fetching several pages, looking up "
    "several cities), make them all in the same response instead of one per turn. Wait for a "
    "result only when you need it to choose the arguments of the next call."
)
"""Added to the instructions (unless `batching_hint=False`) so models batch independent calls."""


class Agent:
    """A model and its tools, run in a loop until the model answers.

    Every turn's calls go through one `Executor` batch: at once where that is safe, in order
    where it is not, every call answered, all answers returned in one message. With streaming,
    calls start while the model is still writing the rest of its message.

    Args:
        model: `provider:model` (`anthropic:claude-sonnet-4-6`, `openai:gpt-5.4`,
            `openai-compatible:<base_url>:<model>`) or a provider adapter.
        client: the SDK client for a model string (e.g. an `AsyncAnthropic` with your retry
            settings); by default the adapter makes one from the environment.
        tools: the tools the model may call: tools, plain functions, or a `Toolbox`, and
            sources of tools such as `volley.mcp.MCPServer` (opened on first use, listed at
            the start of each run and again when they say their tools changed, closed with the
            agent).
        instructions: the system prompt.
        parallel: let the model ask for several calls per turn (where the provider has a switch).
        batching_hint: add `BATCHING_HINT` to the instructions when `parallel` is on.
        max_turns: round trips before `MaxTurnsExceeded`.
        max_tokens: cap on the tokens of each model turn (the adapter's default if `None`).
        max_concurrency: tool calls running at once.
        tool_timeout: seconds per tool attempt for tools that set none.
        streaming: stream the model's messages where the adapter can, starting each call the
            moment it is written (reads at once; writes, and all after them, once the message
            has ended well).
        stream_retries: times a turn is asked again when its stream breaks (or falls silent).
        request_timeout: seconds one round trip to the model may take, streamed or not, the
            SDK's own retries included; `None` for no limit (the SDK's own timeouts still apply).
        idle_timeout: seconds a stream may go without an event (before its first, or between
            two) before it counts as broken and is asked again; `None` for no limit.
        observers: called with every `RunEvent` of every run, as it happens (a trace file,
            telemetry, a progress display); they must be quick and must not raise.
        clock: where the figures' times come from (default: the event loop's clock).
        journal: where runs are recorded, so that a run can be resumed after a crash (finished
            calls are never run again) or after a pause for approval: a URL
            (`sqlite:///runs.db`, `memory`, `postgresql://...`) or a `volley.journal.Journal`.
        requires_approval: a policy deciding which calls wait for a person's approval (besides
            tools made with `requires_approval=True`); approvals need a journal.
        backend: where tool bodies run (default: this process; `volley.ray.RayBackend` for a
            cluster).
        max_threads: threads for sync tools.
        dedupe: identical calls of a read-only tool in one turn run once and share the result.
        retry_wait: the tenacity wait strategy between a tool's retries.
        plan: offer the model `run_plan`, to write a chain of dependent calls in one turn: its
            steps run as one batch, a step waiting for the steps whose results it takes.
        max_hedges: second attempts each turn may start for tools that hedge (`hedge_after`);
            0 turns hedging off.
    """

    def __init__(
        self,
        model: str | Provider,
        tools: Toolbox | Iterable[Tool[..., Any] | Callable[..., Any] | ToolSource] = (),
        *,
        client: Any = None,
        instructions: str | None = None,
        parallel: bool = True,
        batching_hint: bool = True,
        max_turns: int = 20,
        max_tokens: int | None = None,
        max_concurrency: int = 64,
        tool_timeout: float | None = 60.0,
        streaming: bool = True,
        stream_retries: int = 1,
        request_timeout: float | None = 300.0,
        idle_timeout: float | None = 120.0,
        observers: Iterable[Callable[[RunEvent], None]] = (),
        clock: Callable[[], float] | None = None,
        journal: str | Journal | None = None,
        requires_approval: ApprovalPolicy | None = None,
        backend: Backend | None = None,
        max_threads: int = 32,
        dedupe: bool = True,
        retry_wait: wait_base | None = None,
        plan: bool = False,
        max_hedges: int = 4,
    ) -> None:
        if max_turns < 1:
            raise ConfigurationError("max_turns must be >= 1")
        if stream_retries < 0:
            raise ConfigurationError("stream_retries must be >= 0")
        if max_hedges < 0:
            raise ConfigurationError("max_hedges must be >= 0")
        for label, seconds in (
            ("request_timeout", request_timeout),
            ("idle_timeout", idle_timeout),
        ):
            if seconds is not None and not seconds > 0:
                raise ConfigurationError(f"{label} must be > 0 seconds, or None")
        self.model = resolve(model, client=client) if client is not None else resolve(model)
        """The provider adapter the model string resolved to (or the one given)."""
        self._owns_model = isinstance(model, str) and client is None
        items = [] if isinstance(tools, Toolbox) else list(tools)
        self.sources: tuple[ToolSource, ...] = tuple(i for i in items if isinstance(i, ToolSource))
        """Sources of tools known once connected (MCP servers), listed at the start of each run."""
        self.toolbox = (
            tools
            if isinstance(tools, Toolbox)
            else Toolbox(i for i in items if not isinstance(i, ToolSource))
        )
        """The tools given directly (a source's tools join them for each run)."""
        self._tools = SourcedTools(self.toolbox, self.sources)
        self.parallel = parallel
        self.max_turns = max_turns
        self.max_tokens = max_tokens
        self.max_concurrency = max_concurrency
        self.tool_timeout = tool_timeout
        self.streaming = streaming
        self.stream_retries = stream_retries
        self.patience = Patience(request_timeout, idle_timeout)
        """How long a round trip, and a stream's silence, may last (`request_timeout`,
        `idle_timeout`)."""
        self.observers = tuple(observers)
        self._clock = clock
        has_tools = len(self.toolbox) > 0 or bool(self.sources)
        hint = BATCHING_HINT if parallel and batching_hint and has_tools else None
        self.instructions = "\n\n".join(part for part in (instructions, hint) if part) or None
        """The system prompt as sent: the instructions given, then `BATCHING_HINT` if added."""
        self.journal = open_journal(journal) if isinstance(journal, str) else journal
        """Where runs are recorded (opened from the URL given), or `None`."""
        self._owns_journal = isinstance(journal, str)
        self.requires_approval = requires_approval
        self.backend = backend
        self.max_threads = max_threads
        self.dedupe = dedupe
        self.retry_wait = retry_wait
        self.plan = plan
        self.max_hedges = max_hedges
        self._plans: Plans | None = None
        self._approvals = Approvals(requires_approval)
        approving = requires_approval is not None or any(t.requires_approval for t in self.toolbox)
        if approving and self.journal is None:
            raise ConfigurationError(
                "calls that wait for approval need a journal to wait in: Agent(..., "
                "journal='sqlite:///runs.db'), or journal='memory' within one process"
            )

    async def aclose(self) -> None:
        """Close the tool sources (MCP servers), and the SDK client made from a model string.

        A client passed in is yours to close.
        """
        try:
            await asyncio.gather(*(source.aclose() for source in self.sources))
        finally:
            self._tools.forget()
            if self._owns_journal and self.journal is not None:
                await self.journal.aclose()
            if self._owns_model:
                await self.model.aclose()

    async def __aenter__(self) -> Agent:
        """Open the tool sources now, rather than on the first run.

        If one cannot be opened, those that were are closed again before the error is raised.
        """
        opened = await asyncio.gather(
            *(source.open() for source in self.sources), return_exceptions=True
        )
        failures = [outcome for outcome in opened if isinstance(outcome, BaseException)]
        if failures:
            await asyncio.gather(
                *(source.aclose() for source in self.sources), return_exceptions=True
            )
            raise failures[0]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def run_sync(
        self,
        prompt: str,
        *,
        run_id: str | None = None,
        message_history: Sequence[Message] = (),
    ) -> RunResult:
        """`run` for code that has no event loop of its own."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.run(prompt, run_id=run_id, message_history=message_history))
        raise RuntimeError("run_sync cannot be used inside an event loop; await agent.run()")

    async def run(
        self,
        prompt: str,
        *,
        run_id: str | None = None,
        message_history: Sequence[Message] = (),
    ) -> RunResult:
        """Run the loop until the model answers without calling a tool.

        Every failure after the run began is a `RunError`, whose `messages` hold the
        conversation up to the last complete turn (valid to send again, so the writes already done
        are not repeated) and whose `__cause__` is what went wrong underneath.

        Args:
            prompt: what the user says.
            run_id: the run's id in the journal (default: a new one). A run that already
                finished with this id is not run again: its recorded result is returned.
            message_history: an earlier conversation to continue (a `RunResult.messages`).

        Raises:
            MaxTurnsExceeded: the model was still calling tools after `max_turns` turns.
            IncompleteTurn: a message was cut by max tokens, refused, or its stream kept breaking.
            ProviderError: a request failed (refused, rate limited, unreachable, too slow).
            RunError: anything else that stopped the run.
            volley.journal.RunExists: a run with this id is in the journal and has not
                finished (resume it instead).
        """
        return await self._run(self._fresh(prompt, run_id, message_history), self._observe())

    async def resume(
        self, run_id: str, *, approvals: Mapping[str, bool] | None = None
    ) -> RunResult:
        """Go on with a run from its journal: after a crash, a failure, or a pause for approval.

        Calls that finished are not run again; a call that may write and was interrupted is
        not run again either: the model is told its outcome is unknown. `approvals` decides
        calls waiting for a person (`{call_id: True}` to run one, `False` to refuse it).

        Raises:
            volley.journal.RunNotFound: no such run in the journal.
            volley.journal.RunHeld: another process is running it.
            volley.journal.JournalCorrupt: its records cannot be understood.
            RunError: as `run`.
        """
        opening = self._resumed(run_id, dict(approvals or {}))
        return await self._run(opening, self._observe())

    async def run_stream(
        self,
        prompt: str,
        *,
        run_id: str | None = None,
        message_history: Sequence[Message] = (),
    ) -> AsyncIterator[RunEvent]:
        """Run the loop, telling what happens as it happens: text, calls, turns, the end.

        The last event is `RunFinished`, with the same `RunResult` that `run` returns (after a
        `RunPaused` if calls wait for approval); errors are raised as `run` raises them.
        Leaving the iteration early cancels the run and its calls.
        """
        opening = self._fresh(prompt, run_id, message_history)
        # Closed with this generator, so leaving early cancels the run at once.
        events = events_of(lambda emit: self._run(opening, self._observe(emit)))
        async with contextlib.aclosing(events):
            async for event in events:
                yield event

    # -- opening a run ------------------------------------------------------------------------

    def _fresh(
        self, prompt: str, run_id: str | None, history: Sequence[Message]
    ) -> Callable[[], Any]:
        async def opening() -> Opened | RunResult:
            toolbox = await self._listed_tools([UserPrompt(prompt)])
            return await open_fresh(
                self.journal,
                run_id or uuid.uuid4().hex,
                prompt,
                list(history),
                model=self.model.name,
                instructions=self.instructions,
                toolbox=toolbox,
            )

        return opening

    def _resumed(self, run_id: str, approvals: dict[str, bool]) -> Callable[[], Any]:
        async def opening() -> Opened | RunResult:
            if self.journal is None:
                raise ConfigurationError("resume needs a journal: Agent(..., journal=...)")
            toolbox = await self._listed_tools([])
            return await open_resumed(self.journal, run_id, approvals, toolbox)

        return opening

    async def _listed_tools(self, messages: list[Message]) -> Toolbox:
        try:
            return await self._current_tools(None)
        except Exception as exc:
            why = f"the tools could not be listed: {exc}"
            raise RunError(why, messages, RunStats((), 0.0)) from exc

    # -- running ------------------------------------------------------------------------------

    async def _run(self, opening: Callable[[], Any], emit: Emit | None) -> RunResult:
        clock = self._clock or loop_clock(asyncio.get_running_loop())
        opened: Opened | RunResult = await opening()
        if isinstance(opened, RunResult):  # finished before: its recorded result
            if emit is not None:
                emit(RunFinished(opened))
            return opened
        if emit is not None:
            emit(RunStarted(opened.prompt, self.model.name, clock()))
        heartbeat = asyncio.create_task(opened.log.hold()) if self.journal else None
        try:
            result = await play_turns(
                self, opened, emit, clock, self._approvals, self._plans_of, self._current_tools
            )
        except BaseException as exc:
            if isinstance(exc, RunError):
                with contextlib.suppress(Exception):  # the journal may be what failed
                    await opened.log.fail(exc)
            if emit is not None:
                emit(RunFailed(exc, clock()))
            raise
        finally:
            if heartbeat is not None:
                heartbeat.cancel()
        if emit is not None:
            if result.status == "paused":
                waiting = opened.log.waiting
                emit(RunPaused(result.run_id, result.pending_approvals, waiting))
            emit(RunFinished(result))
        return result

    def _observe(self, *more: Callable[[RunEvent], None]) -> Emit | None:
        """One callback for every observer, or `None` (no event is even built) if there are none."""
        observers = (*self.observers, *more)
        if not observers:
            return None
        if len(observers) == 1:
            return observers[0]

        def emit(event: RunEvent) -> None:
            for observe in observers:
                observe(event)

        return emit

    async def _current_tools(self, previous: Toolbox | None) -> Toolbox:
        return await self._tools.current(previous)

    def _plans_of(self, toolbox: Toolbox) -> Plans | None:
        """Plan mode over these tools (made again when the tools change), if it is on."""
        if not self.plan or len(toolbox) == 0:
            return None
        if self._plans is None or self._plans.toolbox is not toolbox:
            self._plans = Plans(toolbox, self._approvals.needed)
        return self._plans
