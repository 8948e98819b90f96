"""Turning what a model sent into arguments a tool can take, with messages a model can act on.

Everything here is bounded. A model's arguments are read without unbounded recursion, so text
nested 10,000 deep is an error the model reads, not a `RecursionError` that escapes a batch. Values
JSON cannot carry (`NaN`, `Infinity`, lone surrogates) are refused before a tool sees them: the
model can fix them, and a tool that stored one would make every later request unencodable.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import pydantic_core
from jsonpointer import JsonPointer, JsonPointerException
from pydantic import ValidationError

from ._errors import ArgumentError

__all__ = [
    "MAX_DEPTH",
    "ArgumentError",
    "check_value",
    "describe_validation_error",
    "find_refs",
    "may_not_be_json",
    "parse_arguments",
    "ref_of",
    "resolve_pointer",
    "substitute_refs",
]

MAX_DEPTH = 200
"""How many containers may nest inside a call's arguments (pydantic's JSON parser stops there)."""

REF_KEY = "$ref"
POINTER_KEY = "pointer"
_INDEX = re.compile(r"0|[1-9][0-9]*")
_SNIPPET = 200

# A literal first character lets the regex engine skip ahead: twice as fast as `[eE]...`.
_BIG_EXPONENT = re.compile(r"e[+\d]\d\d")
_BIG_EXPONENT_UPPER = re.compile(r"E[+\d]\d\d")
_LONG_NUMBER = re.compile(r"\d{300}")

_POSITION = re.compile(r"at line (\d+) column (\d+)")
_NON_NUMBER = re.compile(r"-?(?:NaN|Infinity)")


def may_not_be_json(text: str) -> bool:
    """Whether `text` might hold a non-finite number: if not, a fast parser can take it as is.

    `NaN` and `Infinity`, or a number too large for a float (an exponent of three digits or
    more, or 300 digits and more): cheap scans, wrong only on the safe side.
    """
    return (
        "NaN" in text
        or "Infinity" in text
        or _BIG_EXPONENT.search(text) is not None
        or ("E" in text and _BIG_EXPONENT_UPPER.search(text) is not None)
        or (len(text) >= 300 and _LONG_NUMBER.search(text) is not None)
    )


def parse_arguments(raw: Mapping[str, Any] | str, *, tool: str) -> dict[str, Any]:
    """Return the arguments as a dict, parsing JSON text if a model sent text.

    An empty string means no arguments: several OpenAI-compatible servers send it for tools
    without parameters.

    Raises:
        ArgumentError: not a JSON object, not JSON, nested too deep, or holding a value JSON
            cannot carry; the message says which, and where.
    """
    if isinstance(raw, Mapping):
        arguments = raw if type(raw) is dict else dict(raw)
        problem = check_value(arguments)
        if problem is not None:
            raise ArgumentError(f"Arguments for {tool} {problem}.")
        return arguments  # a call is a value: its arguments are read, never changed
    if not isinstance(raw, str):
        raise ArgumentError(
            f"Arguments for {tool} must be a JSON object, got {type(raw).__name__}."
        )
    if not raw.strip():
        return {}
    try:
        parsed = pydantic_core.from_json(raw, allow_inf_nan=False)
    except (ValueError, TypeError) as exc:
        raise ArgumentError(_json_problem(tool, raw, exc)) from None
    if not isinstance(parsed, dict):
        raise ArgumentError(
            f"Arguments for {tool} must be a JSON object, got {_json_type(parsed)}: "
            f"{_snippet(raw)}."
        )
    if may_not_be_json(raw):  # a number too large for a float parses to infinity
        problem = check_value(parsed)
        if problem is not None:
            raise ArgumentError(f"Arguments for {tool} {problem}.")
    return parsed


def check_value(value: Any) -> str | None:
    """Why `value` cannot be a model's JSON arguments, or `None` if it can.

    Walks the value once, with a stack rather than recursion: nesting deeper than `MAX_DEPTH`,
    a non-finite float, or a string (or key) with a lone surrogate is a problem.
    """
    if type(value) is dict:  # the usual case, flat arguments, without the stack
        for key, item in value.items():
            kind = type(item)
            if kind is str:
                if not item.isascii() and not _encodable(item):
                    return _surrogate_problem(item)
            elif kind is float:
                if not math.isfinite(item):
                    return _number_problem(item)
            elif kind not in (int, bool, type(None)):
                break
            if type(key) is str and not key.isascii() and not _encodable(key):
                return _surrogate_problem(key)
        else:
            return None
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, str):
            if not node.isascii() and not _encodable(node):
                return _surrogate_problem(node)
        elif isinstance(node, float):
            if not math.isfinite(node):
                return _number_problem(node)
        elif isinstance(node, Mapping | list | tuple):
            if depth > MAX_DEPTH:
                return f"nest deeper than {MAX_DEPTH} levels; send flatter arguments"
            if isinstance(node, Mapping):
                for key, item in node.items():
                    stack.append((key, depth))
                    stack.append((item, depth + 1))
            else:
                stack.extend((item, depth + 1) for item in node)
    return None


def ref_of(node: Mapping[str, Any]) -> str | None:
    """The call id `node` stands for, if it is a reference, else `None`.

    A reference is `{"$ref": "<id>"}` (the call's whole value) or `{"$ref": "<id>", "pointer":
    "/a/0"}` (a part of it, by an RFC 6901 JSON pointer); a mapping with any other key is data.
    """
    ref = node.get(REF_KEY)
    if not isinstance(ref, str):
        return None
    if len(node) == 1 or (len(node) == 2 and isinstance(node.get(POINTER_KEY), str)):
        return ref
    return None


def find_refs(value: Any) -> tuple[str, ...]:
    """The call ids referenced anywhere in `value` (see `ref_of`), in order of appearance."""
    found: list[str] = []
    stack: list[Any] = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, Mapping):
            ref = ref_of(node)
            if ref is not None:
                found.append(ref)
                continue
            stack.extend(reversed(list(node.values())))
        elif isinstance(node, list | tuple):
            stack.extend(reversed(node))
    return tuple(dict.fromkeys(found))


def substitute_refs(value: Any, values: Mapping[str, Any]) -> Any:
    """Return `value` with each reference replaced by `values[id]`, or the part it points at.

    Recursive, but only ever over arguments `check_value` accepted, so never deeper than
    `MAX_DEPTH`; the values put in are not walked (but for a pointer's path).

    Raises:
        ArgumentError: a pointer that is not one, or that does not lead anywhere in the value.
    """
    if isinstance(value, Mapping):
        ref = ref_of(value)
        if ref is not None and ref in values:
            pointer = value.get(POINTER_KEY)
            if pointer is None:
                return values[ref]
            return resolve_pointer(values[ref], pointer, ref)
        return {key: substitute_refs(item, values) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [substitute_refs(item, values) for item in value]
    return value


def resolve_pointer(value: Any, pointer: str, ref: str) -> Any:
    """The part of `value` (as JSON, as a model saw it) that an RFC 6901 `pointer` names.

    Raises:
        ArgumentError: saying where the path stops leading anywhere, and what is there instead.
    """
    where = f"pointer {_snippet(repr(pointer), 80)} into the result of {ref!r}"
    try:
        parts = JsonPointer(pointer).parts
    except JsonPointerException as exc:
        raise ArgumentError(
            f"The {where} is not a JSON pointer ({exc}): write it as '/key/0/key', or '' for "
            "the whole result."
        ) from None
    try:
        node = pydantic_core.to_jsonable_python(value)
    except (TypeError, ValueError, pydantic_core.PydanticSerializationError) as exc:
        raise ArgumentError(f"The {where}: that result is not JSON ({exc}).") from None
    walked = ""
    for part in parts:
        here = f"the value at {walked!r}" if walked else "the result"
        if isinstance(node, dict):
            if part not in node:
                keys = ", ".join(repr(k) for k in list(node)[:20]) or "none"
                raise ArgumentError(
                    f"The {where} does not resolve: {here} has no key "
                    f"{_snippet(repr(part), 80)} (its keys: {keys})."
                )
            node = node[part]
        elif isinstance(node, list):
            if not _INDEX.fullmatch(part) or int(part) >= len(node):
                raise ArgumentError(
                    f"The {where} does not resolve: {here} is a list of "
                    f"{len(node)} items, with no item {_snippet(repr(part), 80)} (indexes "
                    "count from 0)."
                )
            node = node[int(part)]
        else:
            raise ArgumentError(
                f"The {where} does not resolve: {here} is "
                f"{_snippet(repr(node), 80)}, not an object or a list."
            )
        walked += "/" + part.replace("~", "~0").replace("/", "~1")
    return node


def describe_validation_error(tool: str, error: ValidationError, accepted: list[str]) -> str:
    """One line per problem, naming the argument, what is wrong, and what was sent."""
    problems: list[str] = []
    for item in error.errors(include_url=False):
        where = ".".join(str(part) for part in item["loc"]) or "(arguments)"
        if item["type"] == "extra_forbidden" and len(item["loc"]) == 1:
            known = ", ".join(accepted) if accepted else "no arguments"
            problems.append(f"`{where}`: unexpected argument (the tool takes: {known})")
        elif item["type"] == "extra_forbidden":
            problems.append(f"`{where}`: unexpected key, not in the schema")
        elif item["type"] == "missing":
            problems.append(f"`{where}`: missing required argument")
        else:
            problems.append(f"`{where}`: {item['msg']} (got {_snippet(repr(item['input']), 80)})")
    return f"Invalid arguments for {tool}: " + "; ".join(problems) + "."


def _json_problem(tool: str, raw: str, exc: Exception) -> str:
    """The parser's complaint, in words a model can act on."""
    message = str(exc)
    if "recursion limit" in message:
        return f"Arguments for {tool} nest deeper than {MAX_DEPTH} levels; send flatter arguments."
    if isinstance(exc, TypeError) or "surrogate" in message or "hex escape" in message:
        return (
            f"Arguments for {tool} hold a lone surrogate (a \\ud800-\\udfff escape without its "
            "pair), which is not text; write the character itself, or a valid pair."
        )
    at = _offset(raw, message)
    if at is not None and at > 0 and raw[at - 1] == "-":
        at -= 1
    if at is not None and (token := _NON_NUMBER.match(raw, at)) is not None:
        return (
            f"Arguments for {tool} hold {token.group()}, which is not a JSON number; send a "
            "finite number, or null, or a string."
        )
    where = f" at {message.rsplit(' at ', 1)[1]}" if " at line " in message else ""
    reason = message.rsplit(" at line ", 1)[0]
    return (
        f"Arguments for {tool} are not valid JSON ({reason}{where}): {_snippet(raw)}. "
        "Send one JSON object with the arguments."
    )


def _offset(text: str, message: str) -> int | None:
    """The 0-based index a parser's `at line L column C` points at."""
    match = _POSITION.search(message)
    if match is None:
        return None
    line, column = int(match.group(1)), int(match.group(2))
    start = 0
    for _ in range(line - 1):
        start = text.find("\n", start) + 1
        if start == 0:
            return None
    return start + column - 1


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _surrogate_problem(text: str) -> str:
    return (
        f"hold a lone surrogate (a \\ud800-\\udfff character without its pair) in "
        f"{_snippet(ascii(text), 60)}, which is not text; write the character itself, or a "
        "valid pair"
    )


def _number_problem(number: float) -> str:
    shown = "NaN" if math.isnan(number) else "Infinity" if number > 0 else "-Infinity"
    return (
        f"hold {shown}, which is not a JSON number (NaN, or too large for a float); send a "
        "finite number, or null, or a string"
    )


def _json_type(value: Any) -> str:
    names = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


def _snippet(text: str, limit: int = _SNIPPET) -> str:
    short = text if len(text) <= limit else text[:limit] + "..."
    return short if short.isascii() or _encodable(short) else ascii(short)
