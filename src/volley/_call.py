"""The neutral representation of a tool call and its result.

Every provider adapter converts its wire format to and from these two values; nothing below the
adapters ever sees a wire format.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ._parts import Part

__all__ = ["ErrorKind", "ToolCall", "ToolResult"]


class ErrorKind(StrEnum):
    """Why a call produced an error result instead of a value.

    A `StrEnum`, so `result.error_kind == "timeout"` works as well as `ErrorKind.TIMEOUT`.
    """

    EXCEPTION = "exception"
    """The tool raised an exception (after any retries)."""
    TIMEOUT = "timeout"
    """The tool did not finish within its timeout (after any retries)."""
    INVALID_ARGUMENTS = "invalid_arguments"
    """The arguments were not valid JSON or did not match the tool's schema."""
    UNKNOWN_TOOL = "unknown_tool"
    """No tool of that name is in the toolbox."""
    DEPENDENCY_FAILED = "dependency_failed"
    """A call this one depends on failed, was cancelled or does not exist, so this one never ran."""
    DEPENDENCY_CYCLE = "dependency_cycle"
    """The call is on a cycle of dependencies, so it can never start."""
    DUPLICATE_ID = "duplicate_id"
    """Another call of the same batch already uses this call id."""
    CANCELLED = "cancelled"
    """The call was cancelled before it finished."""
    INVALID_RESULT = "invalid_result"
    """The tool ran but returned a value that cannot be turned into text for a model."""
    OUTCOME_UNKNOWN = "outcome_unknown"
    """The call was running when its process died; whether it took effect is not known."""
    DENIED = "denied"
    """A person did not approve the call, so it never ran."""


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One call a model asked for: which tool, with which arguments.

    `arguments` may be the raw JSON text a model sent; it is parsed (and a parse error becomes an
    `invalid_arguments` result) when the call is submitted, so adapters never have to.

    With `refs=True`, an argument value `{"$ref": "<call id>"}`, at any depth, is replaced by
    that call's return value before the call runs, and makes this call depend on that one.
    """

    id: str
    """The provider's id for the call; results are matched to calls by it."""
    name: str
    """The tool's name."""
    arguments: Mapping[str, Any] | str = field(default_factory=dict)
    """The arguments, as a mapping or as the JSON text the model wrote."""
    depends_on: tuple[str, ...] = ()
    """Ids of calls whose results this call must wait for (besides those named by `$ref`)."""
    refs: bool = False
    """Whether `{"$ref": "<call id>"}` in the arguments stands for that call's return value.

    Off by default: what a model writes is data (a tool may take a JSON Schema, whose `$ref`s
    are not calls, and a model must not be able to make its calls wait on each other). Code that
    builds calls from a plan turns it on.
    """

    def __post_init__(self) -> None:
        if not isinstance(self.depends_on, tuple):
            object.__setattr__(self, "depends_on", tuple(self.depends_on))


@dataclass(slots=True)
class ToolResult:
    """The one answer a call gets, whatever happened to it.

    `content` is what a model should read; `value` is what the tool returned, for Python code.
    Times come from the executor's clock (by default the event loop's monotonic clock), in seconds.
    Treat it as a value: use `dataclasses.replace` to derive another (it is not frozen only
    because freezing costs more than a no-op tool call).
    """

    call_id: str
    """The id of the call this answers."""
    name: str
    """The name of the tool that was called."""
    content: str
    """The text for the model: the serialized value, or an error message it can act on."""
    value: Any = None
    """The tool's return value (`None` for an error)."""
    is_error: bool = False
    """Whether the call failed; `content` then says why."""
    error_kind: ErrorKind | None = None
    """Why the call failed, or `None` if it did not."""
    started_at: float | None = None
    """When the tool body first started, or `None` if it never ran."""
    ended_at: float | None = None
    """When the call ended, or `None` if it never ran."""
    attempts: int = 0
    """How many times the tool body was started (more than one after retries or hedges)."""
    duplicate_of: str | None = None
    """Set when this call was identical to an earlier read and shares that call's result."""
    exception: BaseException | None = field(default=None, repr=False, compare=False)
    """The exception behind an `exception` or `timeout` result, for logs; never sent to a model."""
    parts: tuple[Part, ...] = ()
    """Text and media in order, for a result that holds images or audio (`content` then says in
    words what each medium is, for formats that carry text only); empty for a text result."""
    hedges: int = 0
    """How many of the `attempts` were hedges: started because an attempt was slow to answer
    (`hedge_after`), racing it for the first answer."""

    @property
    def duration(self) -> float:
        """How long the call ran, in seconds (0 for a call that never ran)."""
        if self.started_at is None or self.ended_at is None:
            return 0.0
        return self.ended_at - self.started_at
