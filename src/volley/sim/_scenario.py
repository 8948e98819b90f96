"""Scenario files: what the simulated model says, turn by turn, and how fast it says it.

The format is described on `Scenario` (and, with examples, in the simulator guide of the
documentation, docs/guides/simulator.md).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeAlias, cast, get_args

from .._errors import VolleyError

Condition: TypeAlias = Literal["always", "any_error", "no_error", "all_error", "any_media"]
"""When a scripted turn is taken, judged on the tool results just received (see `Scenario`)."""
CONDITIONS: tuple[str, ...] = get_args(Condition)


class ScenarioError(VolleyError, ValueError):
    """A scenario file that cannot be used; the message names the offending field."""


@dataclass(frozen=True)
class ScriptedCall:
    """One tool call the model will make: ``arguments`` may hold templates in string values.

    ``arguments_text``, if set, replaces ``arguments``: the text goes out verbatim (see
    `Scenario`).
    """

    name: str
    """The tool's name."""
    arguments: Mapping[str, Any] = field(default_factory=dict)
    """The arguments; string values anywhere inside are templates."""
    arguments_text: str | None = None
    """Text sent exactly as written instead of `arguments`: never a template, never parsed."""


@dataclass(frozen=True)
class Turn:
    """One scripted response; without calls it is a final answer."""

    text: str = ""
    """What the model writes (a template)."""
    calls: tuple[ScriptedCall, ...] = ()
    """The tool calls it asks for, in order; none makes the turn a final answer."""
    when: Condition = "always"
    """Take this turn only if the condition holds for the results just received."""


@dataclass(frozen=True)
class Latency:
    """Delays in seconds, shaped like a real model's so benchmarks see realistic round trips."""

    ttft: float = 0.0
    """Time to the first token."""
    per_output_token: float = 0.0
    """Time per token written, as the deltas go out."""
    per_input_token: float = 0.0
    """Time per token read, before the first token."""

    def first_token(self, input_tokens: int) -> float:
        """Seconds before the first byte: reading the prompt, then the first token."""
        return self.ttft + self.per_input_token * input_tokens

    def output(self, tokens: int) -> float:
        """Seconds to generate ``tokens`` output tokens."""
        return self.per_output_token * tokens


@dataclass(frozen=True)
class Scenario:
    r"""A whole script: the turns in order, the answer once they run out, and the latency model.

    A scenario is JSON, read with `parse_scenario` or `load_scenario` (the standard library
    only, so no extra is needed to load one), or built from these dataclasses directly:

    ```json
    {
      "latency": {"ttft": 0.4, "per_output_token": 0.02, "per_input_token": 0.0001},
      "turns": [
        {"text": "Let me look these up.",
         "calls": [{"name": "get_weather", "arguments": {"city": "Paris"}},
                   {"name": "get_weather", "arguments": {"city": "Berlin"}}]},
        {"when": "any_error", "text": "A lookup failed: {result[0]} / {result[1]}"},
        {"text": "Paris: {result[0]}. Berlin: {result[1]}."}
      ],
      "final": {"text": "That is all I know."}
    }
    ```

    The model walks `turns` in order, one per response. A turn whose `when` does not hold for
    the tool results just received is skipped, so the next turn acts as its "else" branch.
    `when` is one of `always` (the default), `any_error`, `no_error` (also true with no
    results), `all_error` (false with no results) and `any_media` (a result held an image or
    audio, in the provider's own shape). Errors are what the wire format flags: Anthropic's
    `is_error`, a Gemini function response's `error`; OpenAI's formats flag nothing, so there a
    result counts as an error only when its text starts with "error" or it is a JSON object
    with an `"error"` key. A turn without `calls` is a final answer (`end_turn` / `stop`); the
    conversation may go on with a new user message, and the model then takes the next turn.
    Once no turn is left, every response is `final` (default text `"Done."`).

    Texts, and string values inside `arguments`, are templates over the results of the
    previous turn's calls, by call position (0-based): `{result[N]}` is the content of the
    result of call `N`, `{name[N]}` its tool's name, `{media[N]}` the media it carried as the
    model received them (`[image: image/png, 68 bytes]`, comma-separated, or `none`),
    `{results}` every content joined by newlines, `{result_count}` and `{error_count}` counts.
    The content of a result sent as a list of parts is its text, each medium named where it
    stood. A missing result renders as `<no result N>`; any other brace is left alone, so JSON
    inside a text needs no escaping.

    A call may give `arguments_text` instead of `arguments`: a string sent exactly as written,
    never a template and never parsed, so that clients can be fed what a broken model writes
    (`{"a": NaN}`, nesting 10,000 deep, `[1, 2]`, a megabyte of string, `{"city": "Par`). Where
    a format carries the arguments as a string (OpenAI's `arguments`, Anthropic's streamed
    `partial_json`) the string is that text; where it carries a JSON value (Anthropic's plain
    `input`, Gemini's `args`) the text is spliced into the body raw, so an invalid text makes
    the whole body invalid JSON, as it would from a broken server. The text must encode as
    UTF-8: write a lone surrogate as the escape `\ud800` inside the JSON text.

    `latency` holds seconds: time to first token, plus time per input token before it, then
    time per output token as the deltas go out. The server multiplies every delay by its
    `time_scale`.

    Two things are not in the scenario, because they depend on the request or the moment
    rather than on the conversation: a request's output cap (`max_tokens` and the like) cuts
    the turn short where it falls, text first, then each call's name and arguments, as a real
    model runs out of tokens; and `SimServer.cut_streams` breaks the next streamed responses, so
    that a client's retry of the very same conversation can succeed.

    Example:
        ```python
        scenario = load_scenario("scenario.json")  # or parse_scenario(json_text)
        built = Scenario(
            turns=(Turn(text="Checking.", calls=(ScriptedCall("ping"),)), Turn(text="{result[0]}")),
            latency=Latency(ttft=0.4, per_output_token=0.02),
        )
        async with SimServer(built, time_scale=0) as sim:
            ...
        ```
    """

    turns: tuple[Turn, ...] = ()
    """What the model says, in order, one turn per response."""
    final: Turn = Turn(text="Done.")
    """Every response once no turn is left (it makes no calls)."""
    latency: Latency = Latency()
    """How long the model takes; the server scales it by its `time_scale`."""

    @classmethod
    def from_dict(cls, data: object) -> Scenario:
        """Build a scenario from parsed JSON, checking every field (the format is on `Scenario`).

        Raises:
            ScenarioError: a field is missing, unknown or of the wrong type.
        """
        root = _obj(data, "scenario", {"turns", "final", "latency"})
        turns = _list(root.get("turns", []), "turns")
        final = _turn(root["final"], "final") if "final" in root else Turn(text="Done.")
        if final.calls:
            raise ScenarioError("final: the final answer cannot make tool calls")
        lat = _obj(
            root.get("latency", {}), "latency", {"ttft", "per_output_token", "per_input_token"}
        )
        values = {k: _seconds(v, f"latency.{k}") for k, v in lat.items()}
        return cls(
            turns=tuple(_turn(t, f"turns[{i}]") for i, t in enumerate(turns)),
            final=final,
            latency=Latency(**values),
        )


def parse_scenario(text: str) -> Scenario:
    """Parse a scenario from JSON text.

    Raises:
        ScenarioError: the text is not JSON or not a valid scenario.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ScenarioError(f"scenario is not valid JSON: {exc}") from exc
    return Scenario.from_dict(data)


def load_scenario(path: str | Path) -> Scenario:
    """Read a scenario file (JSON, UTF-8).

    Raises:
        ScenarioError: the file is not a valid scenario (the message starts with its path).
    """
    try:
        return parse_scenario(Path(path).read_text(encoding="utf-8"))
    except ScenarioError as exc:
        raise ScenarioError(f"{path}: {exc}") from exc


def _obj(value: object, where: str, keys: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ScenarioError(f"{where}: expected an object")
    unknown = sorted(set(value) - keys)
    if unknown:
        raise ScenarioError(f"{where}: unknown field {unknown[0]!r} (known: {sorted(keys)})")
    return cast(dict[str, Any], value)


def _list(value: object, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise ScenarioError(f"{where}: expected a list")
    return value


def _seconds(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ScenarioError(f"{where}: expected a number of seconds >= 0")
    return float(value)


def _turn(value: object, where: str) -> Turn:
    raw = _obj(value, where, {"text", "calls", "when"})
    text = raw.get("text", "")
    if not isinstance(text, str):
        raise ScenarioError(f"{where}.text: expected a string")
    when = raw.get("when", "always")
    if when not in CONDITIONS:
        raise ScenarioError(f"{where}.when: expected one of {list(CONDITIONS)}, got {when!r}")
    calls = [
        _call(item, f"{where}.calls[{i}]")
        for i, item in enumerate(_list(raw.get("calls", []), f"{where}.calls"))
    ]
    if not text and not calls:
        raise ScenarioError(f"{where}: a turn needs text, calls or both")
    return Turn(text=text, calls=tuple(calls), when=cast(Condition, when))


def _call(value: object, where: str) -> ScriptedCall:
    call = _obj(value, where, {"name", "arguments", "arguments_text"})
    name, arguments = call.get("name"), call.get("arguments", {})
    if not isinstance(name, str) or not name:
        raise ScenarioError(f"{where}.name: expected a non-empty string")
    if not isinstance(arguments, dict):
        raise ScenarioError(f"{where}.arguments: expected an object")
    if "arguments_text" not in call:
        return ScriptedCall(name=name, arguments=arguments)
    if "arguments" in call:
        raise ScenarioError(f"{where}: give arguments or arguments_text, not both")
    text = call["arguments_text"]
    if not isinstance(text, str):
        raise ScenarioError(f"{where}.arguments_text: expected a string")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ScenarioError(
            f"{where}.arguments_text: a lone surrogate at position {exc.start} cannot be sent "
            "as UTF-8; write it as a JSON escape (\\ud800) inside the text"
        ) from None
    return ScriptedCall(name=name, arguments_text=text)
