"""One submitted call, and what the batch learns about it before it may run."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from contextvars import Context
from types import MappingProxyType
from typing import Any

from ._access import NO_ACCESS
from ._arguments import ArgumentError, find_refs, parse_arguments, substitute_refs
from ._call import ErrorKind, ToolCall, ToolResult
from ._results import error_result, unknown_tool
from ._tool import Tool
from ._toolbox import Toolbox

__all__ = [
    "Entry",
    "prepare",
    "resolve_refs",
]


_NO_ARGUMENTS: Mapping[str, Any] = MappingProxyType({})


class Entry:
    """A submitted call and everything the batch learned about it."""

    __slots__ = (
        "access",
        "arguments",
        "call",
        "cancel_requested",
        "context",
        "keeps_arguments",
        "kwargs",
        "needs",
        "node",
        "original",
        "queued",
        "refs",
        "result",
        "started_at",
        "task",
        "tool",
    )

    def __init__(self, call: ToolCall) -> None:
        self.call = call
        self.tool: Tool[..., Any] | None = None
        self.arguments: Mapping[str, Any] = _NO_ARGUMENTS
        """Parsed but not validated: only for a call whose arguments take other calls' results."""
        self.kwargs: dict[str, Any] | None = None
        self.keeps_arguments = False
        """Whether its arguments outlive the call: a later identical read is compared with them."""
        self.refs: tuple[str, ...] = ()
        self.needs: tuple[str, ...] = ()
        self.access = NO_ACCESS
        self.node = -1
        self.original: Entry | None = None
        self.task: asyncio.Task[None] | None = None
        self.cancel_requested = False
        self.context: Context | None = None
        """For a call that cannot start at once: a copy of the context it was submitted from."""
        self.queued = False
        self.started_at: float | None = None
        """When its task took its first step: the call is running from then on."""
        self.result: ToolResult | None = None

    @property
    def key(self) -> str:
        """The call's id."""
        return self.call.id


def prepare(entry: Entry, toolbox: Toolbox) -> tuple[ErrorKind, str] | None:
    """Find the tool, parse and (if no `$ref` waits) validate the arguments, find the resources.

    Returns why the call can never run, or `None` if it may.
    """
    call = entry.call
    try:
        tool = toolbox.get(call.name)
    except TypeError:  # a name that cannot be a key: no tool has it
        tool = None
    if tool is None:
        return ErrorKind.UNKNOWN_TOOL, unknown_tool(call.name, toolbox.names)
    entry.tool = tool
    try:
        if call.refs:
            entry.arguments = parse_arguments(call.arguments, tool=call.name)
            entry.refs = find_refs(entry.arguments)
            if not entry.refs:
                entry.kwargs = tool.validate(entry.arguments)
        else:
            entry.kwargs = tool.parse(call.arguments)
    except ArgumentError as exc:
        return ErrorKind.INVALID_ARGUMENTS, str(exc)
    if call.depends_on or entry.refs:
        entry.needs = tuple(dict.fromkeys((*call.depends_on, *entry.refs)))
        if call.id in entry.needs:
            return ErrorKind.DEPENDENCY_CYCLE, f"Not run: call {call.id!r} depends on itself."
    access = tool.static_access  # most tools: no key function to call
    if access is None:
        access = tool.access(entry.kwargs if entry.kwargs is not None else entry.arguments)
    entry.access = access
    return None


def resolve_refs(entry: Entry, values: Mapping[str, Any]) -> dict[str, Any] | ToolResult:
    """The call's arguments with each `$ref` replaced by that call's value, validated now."""
    assert entry.tool is not None
    try:
        arguments = substitute_refs(entry.arguments, values)
    except ArgumentError as exc:  # a pointer that leads nowhere: it says so itself
        return error_result(entry.call, ErrorKind.INVALID_ARGUMENTS, str(exc))
    try:
        return entry.tool.validate(arguments)
    except ArgumentError as exc:
        used = ", ".join(entry.refs)
        return error_result(
            entry.call,
            ErrorKind.INVALID_ARGUMENTS,
            f"{exc} (the arguments took results of calls {used})",
        )
