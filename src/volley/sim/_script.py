"""Which scripted turn answers a request, worked out from the request alone.

The simulated model keeps no per-conversation state: like a real model, it answers from the
conversation it is sent. Each assistant message of that conversation is replayed through the
script (taking as many calls as that message actually made), so the position in the script, the
calls still owed from a turn split by ``parallel_tool_calls: false``, and the results the next turn
templates over all follow from the history. Many conversations may share one server.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from .._parts import Audio, Image, Part, describe_media
from ._json import RawJSON
from ._scenario import Scenario, Turn
from ._tokens import count_tokens


@dataclass(frozen=True)
class ReceivedResult:
    """A tool result as the request carried it, reduced to what templates and conditions use."""

    call_id: str
    """The id of the call it answers."""
    content: str
    """Its text, each medium named where it stood."""
    is_error: bool = False
    """Whether the wire format flagged it as an error (see `Scenario` for each format)."""
    name: str = ""
    """The called tool's name, looked up from the call id in the history ("" if unknown)."""
    parts: tuple[Part, ...] = ()
    """The text and media of a result sent as a list (blocks, items, a function response with
    media), in order, each medium decoded; empty for a result sent as one string. ``content`` is
    then the text, with each medium named where it stood (``[image: image/png, 68 bytes]``)."""

    @property
    def media(self) -> tuple[Image | Audio, ...]:
        """The images and audio the result carried, in order."""
        return tuple(part for part in self.parts if not isinstance(part, str))


@dataclass(frozen=True)
class Exchange:
    """One assistant message of the history: how many calls it made, and the results after it."""

    calls: int
    """How many tool calls the message made."""
    results: tuple[ReceivedResult, ...] = ()
    """The results sent back after it, in order."""
    attached: tuple[Part, ...] = ()
    """Text and media the message of results carried besides them: Anthropic blocks after its
    ``tool_result`` blocks, Gemini parts after its function responses (audio, say)."""


@dataclass(frozen=True)
class EmittedCall:
    """A tool call the model makes now, with its id and its arguments.

    The arguments are an object (``arguments``), or, for a scenario's ``arguments_text``, a text
    sent exactly as written (``verbatim``), valid JSON or not.
    """

    id: str
    name: str
    arguments: dict[str, Any]
    verbatim: str | None = None

    @cached_property
    def arguments_json(self) -> str:
        """The arguments as the model writes them: one fixed text for stream and non-stream."""
        if self.verbatim is not None:
            return self.verbatim
        return json.dumps(self.arguments, ensure_ascii=False)

    @property
    def arguments_value(self) -> Any:
        """The arguments where a format puts them as a JSON value: verbatim text goes in raw."""
        return self.arguments if self.verbatim is None else RawJSON(self.verbatim)

    @cached_property
    def tokens(self) -> int:
        """Output tokens of the call: its name and its arguments text (counted once)."""
        return count_tokens(self.name) + count_tokens(self.arguments_json)


@dataclass(frozen=True)
class CutCall:
    """A call the output cap stopped mid-way: its name went out, its arguments only in part."""

    id: str
    name: str
    arguments_json: str
    """The start of the call's arguments text, cut at a token boundary: never valid JSON when the
    whole text is a JSON object (a verbatim text may be cut anywhere)."""


@dataclass(frozen=True)
class Reply:
    """What the model says in one response, in no wire format yet."""

    text: str
    calls: tuple[EmittedCall, ...]
    """The complete calls."""
    turn: int
    """Index of the scripted turn it comes from; -1 for the scenario's final answer."""
    cut_call: CutCall | None = None
    """The call the output cap stopped while its arguments were being written, if any."""
    truncated: bool = False
    """The output cap stopped the model (``max_tokens`` / ``length`` / ``incomplete``)."""
    makes_calls: bool = False
    """The scripted turn makes calls, even if the output cap cut them all: text written before
    calls is commentary, not a final answer (Responses' ``phase``)."""


def plan_reply(
    scenario: Scenario,
    history: Sequence[Exchange],
    *,
    max_calls: int | None,
    id_prefix: str,
) -> Reply:
    """The response to a request whose assistant messages are ``history``.

    Args:
        scenario: The script.
        history: The request's assistant messages in order, each with the results after it;
            the last one's results are the ones the response reacts to.
        max_calls: At most this many calls in the response (1 when parallel calls are off).
        id_prefix: The wire format's call id prefix (``toolu_``, ``call_``).
    """
    cursor = _Cursor(scenario, id_prefix)
    before: Sequence[ReceivedResult] = ()
    attached: Sequence[Part] = ()
    for exchange in history:
        cursor.step(before, exchange.calls, attached)
        before, attached = exchange.results, exchange.attached
    return cursor.step(before, max_calls, attached)


class _Cursor:
    """A position in the script: the next turn, calls still owed, results gathered for templates."""

    def __init__(self, scenario: Scenario, id_prefix: str) -> None:
        self.scenario = scenario
        self.id_prefix = id_prefix
        self.next = 0
        self.turn = -1
        self.pending: list[EmittedCall] = []
        self.gathered: list[ReceivedResult] = []
        self.attached: list[Part] = []

    def step(
        self, results: Sequence[ReceivedResult], limit: int | None, attached: Sequence[Part] = ()
    ) -> Reply:
        self.gathered.extend(results)
        self.attached.extend(attached)
        if self.pending:
            take, self.pending = _cut(self.pending, limit)
            return Reply(text="", calls=tuple(take), turn=self.turn, makes_calls=True)
        basis, self.gathered = self.gathered, []
        extra, self.attached = self.attached, []
        turn = self._choose(basis, extra)
        calls = [
            EmittedCall(
                id=self._call_id(i, call.name),
                name=call.name,
                arguments=_render_value(dict(call.arguments), basis),
                verbatim=call.arguments_text,  # never a template: sent exactly as written
            )
            for i, call in enumerate(turn.calls)
        ]
        take, self.pending = _cut(calls, limit)
        return Reply(
            text=render(turn.text, basis),
            calls=tuple(take),
            turn=self.turn,
            makes_calls=bool(calls),
        )

    def _choose(self, basis: Sequence[ReceivedResult], attached: Sequence[Part]) -> Turn:
        turns = self.scenario.turns
        for index in range(self.next, len(turns)):
            if holds(turns[index].when, basis, attached):
                self.next, self.turn = index + 1, index
                return turns[index]
        self.next, self.turn = len(turns), -1
        return self.scenario.final

    def _call_id(self, position: int, name: str) -> str:
        digest = hashlib.sha256(f"{self.turn}:{position}:{name}".encode()).hexdigest()
        return f"{self.id_prefix}{digest[:24]}"


def _cut(
    calls: list[EmittedCall], limit: int | None
) -> tuple[list[EmittedCall], list[EmittedCall]]:
    if limit is None:
        return calls, []
    return calls[:limit], calls[limit:]


def holds(when: str, results: Sequence[ReceivedResult], attached: Sequence[Part] = ()) -> bool:
    """Whether a turn's condition holds for the results just received (and what came with them)."""
    if when == "any_media":
        return any(r.media for r in results) or any(not isinstance(p, str) for p in attached)
    errors = sum(r.is_error for r in results)
    if when == "any_error":
        return errors > 0
    if when == "no_error":
        return errors == 0
    if when == "all_error":
        return bool(results) and errors == len(results)
    return True


_PLACEHOLDER = re.compile(
    r"\{(result|name|media)\[(\d+)\]\}|\{(results|result_count|error_count)\}"
)


def render(template: str, results: Sequence[ReceivedResult]) -> str:
    """Fill a template's placeholders (see the scenario docstring) from results by position."""

    def fill(match: re.Match[str]) -> str:
        kind, position, whole = match.groups()
        if whole == "results":
            return "\n".join(r.content for r in results)
        if whole == "result_count":
            return str(len(results))
        if whole == "error_count":
            return str(sum(r.is_error for r in results))
        n = int(position)
        if n >= len(results):
            return f"<no result {n}>"
        if kind == "media":
            return ", ".join(describe_media(m) for m in results[n].media) or "none"
        return results[n].content if kind == "result" else results[n].name

    return _PLACEHOLDER.sub(fill, template)


def _render_value(value: Any, results: Sequence[ReceivedResult]) -> Any:
    if isinstance(value, str):
        return render(value, results)
    if isinstance(value, dict):
        return {k: _render_value(v, results) for k, v in value.items()}
    if isinstance(value, list):
        return [_render_value(v, results) for v in value]
    return value
