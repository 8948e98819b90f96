"""Tools: a function, its schema, how it may be run, and what it touches."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from enum import Enum
from typing import Any, Generic, Literal, ParamSpec, TypeAlias, TypedDict, TypeVar, Unpack, overload

from pydantic import TypeAdapter, ValidationError

from ._access import ROOT, UNDECLARED, Access
from ._arguments import ArgumentError, describe_validation_error, may_not_be_json, parse_arguments
from ._errors import ConfigurationError
from ._hedge import LatencyWindow, hedge_percentile
from ._jsonschema import normalize, validator_for
from ._signature import describe_function

__all__ = ["UNSET", "Effects", "Keys", "Tool", "ToolOptions", "tool"]

P = ParamSpec("P")
R = TypeVar("R")

Effects: TypeAlias = Literal["read", "write"]
Keys: TypeAlias = str | Sequence[str] | Callable[[Mapping[str, Any]], Iterable[str] | str]
"""Resource keys: one key, a fixed list, or a function of the (validated) arguments.

A string is one key (`writes="note:a"`), never a sequence of characters, whether it is given or
returned by a key function.
"""

_DEFAULT_RETRY_ON: tuple[type[BaseException], ...] = (ConnectionError, TimeoutError)


_NO_KEYS: frozenset[str] = frozenset()
_NO_ARGUMENTS: dict[str, Any] = {}  # shared: keyword arguments are only ever read (`**kwargs`)


class ToolOptions(TypedDict, total=False):
    """How a tool may be run and what it touches; every key is optional."""

    effects: Effects | None
    """`"read"`: holds every resource shared; `"write"`: holds every resource alone (a barrier)."""
    reads: Keys | None
    """Resource keys held shared: a list, or a function of the validated arguments."""
    writes: Keys | None
    """Resource keys held exclusively: a list, or a function of the validated arguments."""
    timeout: float | _Unset | None
    """Seconds per attempt (default: the executor's); `None` for no limit."""
    retries: int
    """Attempts after the first, with backoff; only for read or idempotent tools."""
    retry_on: tuple[type[BaseException], ...]
    """The exceptions worth a retry (default: `ConnectionError`, `TimeoutError`)."""
    idempotent: bool
    """Running it twice has the effect of running it once, so retries are safe."""
    max_concurrency: int | None
    """How many calls of this tool may run at once."""
    requires_approval: bool
    """A person must approve each call first: the run pauses until they decide (needs a
    journal on the agent)."""
    hedge_after: float | str | None
    """Start a second attempt of a call that has not answered after this many seconds, or
    after a percentile of the tool's recent latencies (`"p95"`); the first answer wins. Only for
    read or idempotent tools."""


class _Unset(Enum):
    UNSET = "UNSET"

    def __repr__(self) -> str:
        return "UNSET"


UNSET = _Unset.UNSET
"""Marks a setting left to the executor (a timeout of `None` means no timeout at all)."""


class Tool(Generic[P, R]):
    """A function a model may call, with everything the executor needs to run it safely.

    Build one with `@tool` (schema from type hints and docstring) or `Tool.from_schema` (schema
    from elsewhere). Calling the tool calls the function directly, so tools stay easy to test.
    """

    def __init__(
        self,
        fn: Callable[P, R],
        *,
        name: str,
        description: str,
        schema: Mapping[str, Any],
        validate: Callable[[Mapping[str, Any]], dict[str, Any]],
        accepted: Sequence[str],
        validate_json: Callable[[str], dict[str, Any]] | None = None,
        json_refuses_non_finite: bool = False,
        effects: Effects | None = None,
        reads: Keys | None = None,
        writes: Keys | None = None,
        timeout: float | _Unset | None = UNSET,
        retries: int = 0,
        retry_on: tuple[type[BaseException], ...] = _DEFAULT_RETRY_ON,
        idempotent: bool = False,
        max_concurrency: int | None = None,
        requires_approval: bool = False,
        hedge_after: float | str | None = None,
    ) -> None:
        if effects not in (None, "read", "write"):
            raise ConfigurationError(f"tool {name!r}: effects must be 'read', 'write' or None")
        if effects == "read" and writes is not None:
            raise ConfigurationError(
                f"tool {name!r}: a tool with effects='read' cannot declare writes"
            )
        if retries < 0:
            raise ConfigurationError(f"tool {name!r}: retries must be >= 0")
        if max_concurrency is not None and max_concurrency < 1:
            raise ConfigurationError(f"tool {name!r}: max_concurrency must be >= 1")
        if isinstance(timeout, int | float) and timeout <= 0:
            raise ConfigurationError(f"tool {name!r}: timeout must be > 0 seconds (or None)")
        self.fn = fn
        """The function itself; calling the tool calls it."""
        self.name = name
        """The name the model calls it by."""
        self.description = description
        """What the model reads about it."""
        self.schema: dict[str, Any] = dict(schema)
        """The JSON Schema of its arguments, as sent to the model."""
        self.effects = effects
        """`"read"`, `"write"`, or `None` (undeclared: it may do anything)."""
        self.reads = _one_key(reads)
        """Resource keys it reads: static, or a function of the arguments."""
        self.writes = _one_key(writes)
        """Resource keys it writes: static, or a function of the arguments."""
        self.is_read_only = effects == "read" or (reads is not None and writes is None)
        """Whether the tool declares that it only reads: only then are identical calls shared."""
        self.timeout = timeout
        """Seconds per attempt (`UNSET`: the executor's default; `None`: no limit)."""
        self.retries = retries
        """Attempts after the first, for tools that only read or are idempotent."""
        self.retry_on = retry_on
        """Which exceptions are retried."""
        self.idempotent = idempotent
        """Whether running it twice does what running it once does."""
        self.max_concurrency = max_concurrency
        """Its calls running at once, at most (`None`: the executor's limit only)."""
        self.requires_approval = requires_approval
        """Whether its calls wait for a person's approval (with a journal)."""
        self.hedge_after = hedge_after
        """When a slow call gets a second attempt: seconds, `"pNN"`, or `None`."""
        self.hedge_percentile: float | None = None
        """The percentile of recent latencies `hedge_after` names, if it names one."""
        self.latencies: LatencyWindow | None = None
        """The tool's recent latencies, kept when `hedge_after` is a percentile of them."""
        self.is_async = inspect.iscoroutinefunction(fn)
        self._validate = validate
        self._validate_json = validate_json
        self._json_refuses_non_finite = json_refuses_non_finite
        self._accepted = list(accepted)
        # Keys that do not depend on the arguments are worked out once, not per call.
        static = not callable(self.reads) and not callable(self.writes)
        self.static_access: Access | None = self._access_of({}) if static else None
        """What every call holds when its keys do not depend on its arguments, else `None`."""
        if retries and not (idempotent or self.is_read_only):
            raise ConfigurationError(
                f"tool {name!r}: retries would repeat its side effects; declare "
                "effects='read' or idempotent=True to allow them"
            )
        if hedge_after is not None:
            self._check_hedge(hedge_after)

    def _check_hedge(self, hedge_after: float | str) -> None:
        self.hedge_percentile = hedge_percentile(self.name, hedge_after)
        if not (self.idempotent or self.is_read_only):
            raise ConfigurationError(
                f"tool {self.name!r}: hedge_after would run it twice at once, repeating its side "
                "effects; declare effects='read' or idempotent=True to allow it"
            )
        if self.hedge_percentile is not None:
            self.latencies = LatencyWindow()
        elif isinstance(self.timeout, int | float) and not float(hedge_after) < self.timeout:
            raise ConfigurationError(
                f"tool {self.name!r}: hedge_after ({float(hedge_after):g} s) must be shorter than "
                f"its timeout ({self.timeout:g} s), or no attempt would ever be hedged"
            )

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"Tool({self.name!r}, effects={self.effects!r})"

    @property
    def is_declared(self) -> bool:
        """Whether the tool says what it touches; a tool that does not may do anything."""
        return self.effects is not None or self.reads is not None or self.writes is not None

    def parse(self, raw: Mapping[str, Any] | str) -> dict[str, Any]:
        """The keyword arguments for a call with `raw`: a mapping, or the JSON text a model wrote.

        Text is parsed and validated in one pass; the slower path of `parse_arguments` and
        `validate` runs only for text that may hold what JSON cannot carry (unless the fast
        validator refuses it by itself: `json_refuses_non_finite`), or to word an error.

        Raises:
            ArgumentError: a message naming what is wrong, meant for the model.
        """
        if (
            type(raw) is str
            and self._validate_json is not None
            and (self._json_refuses_non_finite or not may_not_be_json(raw))
        ):
            if not self._accepted and raw in ("", "{}"):
                return _NO_ARGUMENTS
            try:
                return self._validate_json(raw)
            except ValidationError:
                pass  # the slow path words the error (JSON, or the schema)
            except ValueError:
                pass  # a validator of the tool's own that chokes: let the slow path decide
        return self.validate(parse_arguments(raw, tool=self.name))

    def validate(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """Check and coerce `arguments`; return the keyword arguments for the function.

        Raises:
            ArgumentError: a message naming each bad field, meant for the model.
        """
        if not arguments and not self._accepted:
            return _NO_ARGUMENTS
        try:
            return self._validate(arguments)
        except ValidationError as exc:
            raise ArgumentError(describe_validation_error(self.name, exc, self._accepted)) from None

    def access(self, arguments: Mapping[str, Any]) -> Access:
        """The resources a call with these arguments holds.

        If a key function fails (the arguments lack what it needs), the call holds `*` in the
        strongest declared mode: when in doubt, serialize rather than race.
        """
        if self.static_access is not None:
            return self.static_access
        return self._access_of(arguments)

    def _access_of(self, arguments: Mapping[str, Any]) -> Access:
        if self.effects is None and self.reads is None and self.writes is None:
            return UNDECLARED
        try:
            reads = _keys(self.reads, arguments) if self.reads is not None else _NO_KEYS
            writes = _keys(self.writes, arguments) if self.writes is not None else _NO_KEYS
        except Exception:
            if self.writes is not None or self.effects == "write":
                return Access(writes=frozenset({ROOT}))
            return Access(reads=frozenset({ROOT}))
        if self.reads is None and self.writes is None:
            reads, writes = (
                (frozenset({ROOT}), frozenset())
                if self.effects == "read"
                else (
                    frozenset(),
                    frozenset({ROOT}),
                )
            )
        return Access(reads=reads, writes=writes)

    @classmethod
    def from_function(
        cls,
        fn: Callable[P, R],
        *,
        name: str | None = None,
        description: str | None = None,
        **options: Unpack[ToolOptions],
    ) -> Tool[P, R]:
        """Make a tool of a Python function; see `ToolOptions` for the options."""
        tool_name = name or getattr(fn, "__name__", None)
        if not tool_name:
            raise ConfigurationError("the tool needs a name: pass name=")
        signature = describe_function(fn, tool_name)
        validator = signature.validator
        return cls(
            fn,
            name=tool_name,
            description=description if description is not None else signature.description,
            schema=signature.schema,
            validate=validator.validate_python,
            # No frame of ours on every call's path.
            validate_json=signature.json_validator.validate_json,
            json_refuses_non_finite=signature.json_refuses_non_finite,
            accepted=list(signature.model.model_fields),
            **options,
        )

    @classmethod
    def from_schema(
        cls,
        name: str,
        description: str,
        parameters: Mapping[str, Any] | None,
        fn: Callable[..., Any],
        **options: Unpack[ToolOptions],
    ) -> Tool[..., Any]:
        """Make a tool whose JSON Schema comes from elsewhere (MCP, OpenAPI, BFCL).

        The schema is normalized to standard JSON Schema; `fn` is called with the validated
        arguments as keyword arguments (only those the model sent).
        """
        schema = normalize(parameters)
        adapter: TypeAdapter[Any] = validator_for(schema, name=name)

        def validate(arguments: Mapping[str, Any]) -> dict[str, Any]:
            checked: dict[str, Any] = adapter.validate_python(arguments)
            return checked

        def validate_json(text: str) -> dict[str, Any]:
            checked: dict[str, Any] = adapter.validate_json(text)
            return checked

        return cls(
            fn,
            name=name,
            description=description,
            schema=schema,
            validate=validate,
            validate_json=validate_json,
            accepted=list(schema.get("properties", {})),
            **options,
        )


def _one_key(keys: Keys | None) -> Keys | None:
    """A lone string is one key, not the sequence of its characters."""
    return (keys,) if isinstance(keys, str) else keys


def _keys(keys: Keys, arguments: Mapping[str, Any]) -> frozenset[str]:
    if callable(keys):
        found = keys(arguments)
        if isinstance(found, str):
            return frozenset((found,))
        return frozenset(map(str, found))
    return frozenset(keys)


@overload
def tool(
    fn: Callable[P, R],
    /,
    *,
    name: str | None = ...,
    description: str | None = ...,
    **options: Unpack[ToolOptions],
) -> Tool[P, R]: ...


@overload
def tool(
    *,
    name: str | None = ...,
    description: str | None = ...,
    **options: Unpack[ToolOptions],
) -> Callable[[Callable[P, R]], Tool[P, R]]: ...


def tool(
    fn: Callable[P, R] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    **options: Unpack[ToolOptions],
) -> Tool[P, R] | Callable[[Callable[P, R]], Tool[P, R]]:
    """Make a tool of a function, sync or async: `@tool`, `@tool(...)` or `tool(fn, ...)`.

    Args:
        fn: the function; its type hints and docstring give the schema.
        name: the tool's name (default: the function's).
        description: what the model reads (default: the docstring, without its `Args:`).
        **options: how it may be run and what it touches: see `ToolOptions`.
    """
    if fn is not None:
        return Tool.from_function(fn, name=name, description=description, **options)

    def decorate(func: Callable[P, R]) -> Tool[P, R]:
        return Tool.from_function(func, name=name, description=description, **options)

    return decorate
