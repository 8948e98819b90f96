"""Plan mode: the model writes a chain of dependent calls at once, as steps of one `run_plan` call.

Without it, a chain (search, then fetch the top results, then summarize) costs a round trip to
the model per link, each sending the whole context again. With it, the model names the links in
one call: `{"steps": [{"id": "s1", "tool": "search", "arguments": {...}}, {"id": "s2", "tool":
"fetch", "arguments": {"url": {"$ref": "s1", "pointer": "/results/0/url"}}}]}`. The steps become
calls of the turn's batch, so they run under the usual rules (a step waits for the steps it
references and for earlier conflicting calls; everything else at once), beside any calls the
model made directly; the plan's one result gives each step's result, or error, by id.

A step's call id is `<plan call id>/<step id>`, so two plans in one turn cannot collide; results
name steps by their own ids. A bad plan is answered, never run blind and never hung: a step that
names an unknown tool, refers to a step the plan lacks, or points where its reference's value
leads nowhere gets an error naming the problem, and only the steps that need it fail with it.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pydantic_core

from ._arguments import ArgumentError, find_refs, parse_arguments, ref_of
from ._call import ErrorKind, ToolCall, ToolResult
from ._content import DEFAULT_MAX_CHARS, cap
from ._results import error_result
from ._tool import Tool
from ._toolbox import Toolbox

__all__ = ["PLAN_TOOL", "Expansion", "Plans", "steps_from_result"]

PLAN_TOOL = "run_plan"
"""The name of the tool a model calls to run a plan."""

MAX_STEPS = 100
"""Steps one plan may hold: past that, it is refused as a whole (a model looping, not planning)."""

NeedsApproval = Callable[[ToolCall, Tool[..., Any]], bool]


@dataclass(frozen=True, slots=True)
class Expansion:
    """One call of a message as the batch runs it: itself, or, for a plan, its steps."""

    call: ToolCall
    """The call the model wrote."""
    calls: tuple[ToolCall, ...]
    """What the batch runs for it, in the model's order."""
    answered: tuple[tuple[ToolCall, ToolResult], ...] = ()
    """Steps (or the plan itself) answered before running: they can never run."""
    steps: tuple[tuple[str, str], ...] = ()
    """For a plan: each step's own id and its call id, in the plan's order."""

    @property
    def is_plan(self) -> bool:
        """Whether the batch answers this call through steps of its own."""
        return bool(self.steps)

    @property
    def ids(self) -> tuple[str, ...]:
        """Every call id the batch answers for this call, a plan's in the order of its steps."""
        if self.steps:
            return tuple(call_id for _, call_id in self.steps)
        return (*(c.id for c, _ in self.answered), *(c.id for c in self.calls))


class Plans:
    """Turns `run_plan` calls into steps, and the steps' results back into the plan's result."""

    def __init__(self, toolbox: Toolbox, needs_approval: NeedsApproval | None = None) -> None:
        self.toolbox = toolbox
        self._needs_approval = needs_approval
        self._tool: Tool[..., Any] | None = None

    def tool(self) -> Tool[..., Any]:
        """The `run_plan` tool as the model is offered it: its schema names the tools."""
        if self._tool is None:
            self._tool = plan_tool(self.toolbox)
        return self._tool

    def expand(self, call: ToolCall) -> Expansion:
        """The calls the batch runs for `call` (the same for the same call, every time)."""
        if call.name != PLAN_TOOL:
            return Expansion(call, (call,))
        try:
            steps = _steps(parse_arguments(call.arguments, tool=PLAN_TOOL))
        except ArgumentError as exc:
            refused = error_result(call, ErrorKind.INVALID_ARGUMENTS, str(exc))
            return Expansion(call, (), ((call, refused),))
        own = _step_ids(steps)
        calls: list[ToolCall] = []
        answered: list[tuple[ToolCall, ToolResult]] = []
        for number, step in enumerate(steps):
            made, refs = _step_call(call.id, step, own[number], set(own))
            problem = self._problem(step, number, made, refs, own)
            if problem is not None:
                answered.append((made, error_result(made, *problem)))
            else:
                calls.append(made)
        pairs = tuple((step_id, f"{call.id}/{step_id}") for step_id in own)
        return Expansion(call, tuple(calls), tuple(answered), pairs)

    def settled_steps(self, plan_id: str, steps: list[Any]) -> list[tuple[ToolCall, bool]]:
        """The steps of a plan (perhaps still being written), each with whether it is settled.

        A step is settled when the rest of the plan cannot change it: it is well formed, and
        refers only to steps before it. A settled step is the very call `expand` makes of it once
        the plan is whole, so it may start before then; the others wait for the whole plan.
        """
        own = _step_ids(steps)
        settled: list[tuple[ToolCall, bool]] = []
        for number, step in enumerate(steps):
            earlier = set(own[:number])
            made, refs = _step_call(plan_id, step, own[number], earlier)
            whole = all(ref in earlier for ref in refs)
            settled.append((made, whole and self._problem(step, number, made, refs, own) is None))
        return settled

    def steps_of(self, call: ToolCall) -> list[Any]:
        """The steps a whole `run_plan` call lists (none, if it is not a plan one can run)."""
        try:
            return _steps(parse_arguments(call.arguments, tool=PLAN_TOOL))
        except ArgumentError:
            return []

    def fold(self, expansion: Expansion, results: Mapping[str, ToolResult]) -> ToolResult:
        """The result of the call the model wrote: a plan's gathers its steps' results."""
        call = expansion.call
        if not expansion.is_plan:
            return results[call.id]
        mine = [results[call_id] for _, call_id in expansion.steps]
        values = {
            step_id: result.value
            for (step_id, _), result in zip(expansion.steps, mine, strict=True)
            if not result.is_error
        }
        content = _report(expansion, mine, None)
        if len(content) > DEFAULT_MAX_CHARS:  # each step gets its share, and says it was cut
            share = max(200, DEFAULT_MAX_CHARS // len(mine) - 100)
            content = cap(_report(expansion, mine, share), DEFAULT_MAX_CHARS)
        starts = [r.started_at for r in mine if r.started_at is not None]
        ends = [r.ended_at for r in mine if r.ended_at is not None]
        failed = all(r.is_error for r in mine)  # else the model reads which steps failed
        return ToolResult(
            call_id=call.id,
            name=call.name,
            content=content,
            value=values,
            is_error=failed,
            error_kind=mine[0].error_kind if failed else None,
            started_at=min(starts) if starts else None,
            ended_at=max(ends) if ends else None,
            attempts=sum(r.attempts for r in mine),
            hedges=sum(r.hedges for r in mine),
        )

    def _problem(
        self,
        step: object,
        number: int,
        made: ToolCall,
        refs: Sequence[str],
        own: list[str],
    ) -> tuple[ErrorKind, str] | None:
        """Why a step can never run, in words the model can act on, or `None`."""
        if not isinstance(step, Mapping):
            return (
                ErrorKind.INVALID_ARGUMENTS,
                f"Step #{number + 1} is not an object: write each step as "
                '{"id": "s1", "tool": "<name>", "arguments": {...}}.',
            )
        step_id = step.get("id")
        if not isinstance(step_id, str) or not step_id:
            return (
                ErrorKind.INVALID_ARGUMENTS,
                f"Step #{number + 1} has no id: give every step a short id, unique in the plan.",
            )
        if own[number] != step_id:
            return (
                ErrorKind.DUPLICATE_ID,
                f"Not run: step #{number + 1} reuses the id {step_id!r} of an earlier step; "
                "give every step its own id.",
            )
        if not isinstance(step.get("tool"), str):
            return (
                ErrorKind.INVALID_ARGUMENTS,
                f'Step {step_id!r} names no tool: give it a "tool" (one of: '
                f"{', '.join(self.toolbox.names)}).",
            )
        if made.name == PLAN_TOOL:
            return ErrorKind.INVALID_ARGUMENTS, "A plan cannot hold a plan: list its steps here."
        missing = [ref for ref in refs if ref not in own]
        if missing:
            names = ", ".join(repr(ref) for ref in missing)
            return (
                ErrorKind.DEPENDENCY_FAILED,
                f"Not run: it refers to {names}, which is not a step of this plan (its steps: "
                f"{', '.join(own)}).",
            )
        tool = self.toolbox.get(made.name)
        approving = self._needs_approval
        if tool is not None and approving is not None and approving(made, tool):
            return (
                ErrorKind.DENIED,
                f"Not run: {made.name} waits for a person's approval, which a step of a plan "
                "cannot do; call it directly, not in a plan.",
            )
        return None


def steps_from_result(plan: ToolCall, result: ToolResult) -> dict[str, tuple[ToolCall, ToolResult]]:
    """A finished plan's steps, each with its result as the plan's result tells it.

    For what keeps only the conversation (a `RunResult`): the steps' own results were events of
    the run, and the plan's result holds what the model read of each.
    """
    expansion = Plans(Toolbox()).expand(plan)
    made = {c.id: c for c in (*expansion.calls, *(c for c, _ in expansion.answered))}
    try:
        report = pydantic_core.from_json(result.content)
    except ValueError:
        report = {}
    steps: dict[str, tuple[ToolCall, ToolResult]] = {}
    for step_id, call_id in expansion.steps:
        outcome = report.get(step_id) if isinstance(report, dict) else None
        outcome = outcome if isinstance(outcome, dict) else {}
        call = made[call_id]
        if "error" in outcome:
            kind, _, why = str(outcome["error"]).partition(": ")
            known = kind in ErrorKind.__members__.values()
            steps[call_id] = (
                call,
                error_result(call, ErrorKind(kind) if known else ErrorKind.EXCEPTION, why or kind),
            )
        else:
            value = outcome.get("result")
            text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            steps[call_id] = (call, ToolResult(call_id, call.name, text, value))
    return steps


def plan_tool(toolbox: Toolbox) -> Tool[..., Any]:
    """The `run_plan` tool offered to the model; a batch never runs it (its steps run instead).

    Its schema lists the tools a step may call (not those that wait for a person's approval),
    and leaves their arguments to each tool's own schema: the plan costs the context of one short
    description, not a second copy of every tool.
    """
    return _plan_tool_naming(
        tuple(t.name for t in toolbox if not t.requires_approval and t.name != PLAN_TOOL)
    )


@functools.lru_cache(maxsize=64)
def _plan_tool_naming(names: tuple[str, ...]) -> Tool[..., Any]:
    """The plan tool offering `names`, made once per set of names.

    Its validator takes a millisecond to build: an agent made per request would spend it
    before its first request.
    """
    description = (
        "Run calls of the other tools as one plan, when later calls need earlier results: "
        'in a step\'s arguments, {"$ref": "s1"} is step s1\'s result and {"$ref": "s1", '
        '"pointer": "/items/0/id"} a part of it (a JSON pointer). Steps run at once unless they '
        "wait for a step they refer to. Returns each step's result or error by id."
    )
    schema = {
        "type": "object",
        "properties": {
            "steps": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string"},
                        "tool": {"type": "string", "enum": list(names)},
                        "arguments": {"type": "object"},
                    },
                    "required": ["id", "tool", "arguments"],
                },
            }
        },
        "required": ["steps"],
    }
    return Tool.from_schema(PLAN_TOOL, description, schema, _run_by_steps)


def _run_by_steps(**_: Any) -> None:
    raise RuntimeError("run_plan is answered by its steps; a batch never runs it")


def _steps(arguments: Mapping[str, Any]) -> list[Any]:
    steps = arguments.get("steps")
    if not isinstance(steps, list) or not steps:
        raise ArgumentError(
            'A plan needs "steps": a list of {"id": "s1", "tool": "<name>", "arguments": '
            "{...}}, at least one."
        )
    if len(steps) > MAX_STEPS:
        raise ArgumentError(
            f"A plan holds at most {MAX_STEPS} steps ({len(steps)} were sent); split it over "
            "turns, or call the tools directly."
        )
    return steps


def _step_ids(steps: list[Any]) -> list[str]:
    """Each step's own id; a step without a usable one, or reusing one, is named by its place."""
    ids: list[str] = []
    for number, step in enumerate(steps):
        step_id = step.get("id") if isinstance(step, Mapping) else None
        usable = isinstance(step_id, str) and step_id and step_id not in ids
        ids.append(step_id if usable else f"#{number + 1}")  # type: ignore[arg-type]
    return ids


def _step_call(
    plan_id: str, step: object, step_id: str, known: set[str]
) -> tuple[ToolCall, tuple[str, ...]]:
    """The call of one step (its id `<plan id>/<step id>`), and the step ids it refers to."""
    prefix = f"{plan_id}/"
    name = step.get("tool") if isinstance(step, Mapping) else None
    arguments = step.get("arguments", {}) if isinstance(step, Mapping) else {}
    refs = find_refs(arguments) if isinstance(arguments, Mapping) else ()
    made = ToolCall(
        prefix + step_id,
        name if isinstance(name, str) else str(name),
        _namespaced(arguments, prefix),
        depends_on=tuple(prefix + ref for ref in dict.fromkeys(refs) if ref in known),
        refs=True,
    )
    return made, refs


def _namespaced(value: Any, prefix: str) -> Any:
    """The arguments with each reference's step id turned into the step's call id.

    Recursive over what `parse_arguments` accepted, so never deeper than its bound.
    """
    if isinstance(value, Mapping):
        ref = ref_of(value)
        if ref is not None:
            return {**value, "$ref": prefix + ref}
        return {key: _namespaced(item, prefix) for key, item in value.items()}
    if isinstance(value, list):
        return [_namespaced(item, prefix) for item in value]
    return value


def _report(expansion: Expansion, results: list[ToolResult], share: int | None) -> str:
    """Each step's result or error by its id, as JSON; each cut to `share` characters if given."""
    prefix = f"{expansion.call.id}/"
    report: dict[str, Any] = {}
    for (step_id, _), result in zip(expansion.steps, results, strict=True):
        key = step_id if share is None else step_id[:100]
        if result.is_error:
            why = result.content.replace(prefix, "")
            why = why if share is None else cap(why, share)
            report[key] = {"error": f"{result.error_kind}: {why}"}
        else:
            text = result.content if share is None else cap(result.content, share)
            report[key] = {"result": _as_json(text)}
    return json.dumps(report, ensure_ascii=False)


def _as_json(content: str) -> Any:
    """A result's text as the JSON it holds (so it nests without escapes), or the text itself."""
    try:
        return pydantic_core.from_json(content)
    except ValueError:
        return content
