"""Turning what a model sent into arguments a tool can take, with messages a model can act on."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

__all__ = [
    "ArgumentError",
    "describe_validation_error",
    "find_refs",
    "parse_arguments",
    "substitute_refs",
]

REF_KEY = "$ref"
_SCALARS = frozenset({str, int, float, bool, type(None)})
_SNIPPET = 200


class ArgumentError(ValueError):
    """The arguments cannot be given to the tool; the message says why, for the model."""


def parse_arguments(raw: Mapping[str, Any] | str, *, tool: str) -> dict[str, Any]:
    """Return the arguments as a dict, parsing JSON text if a model sent text.

    An empty string means no arguments: several OpenAI-compatible servers send it for tools
    without parameters.
    """
    if type(raw) is dict:
        return raw  # a call is a value: its arguments are read, never changed
    if isinstance(raw, Mapping):
        return dict(raw)
    if not isinstance(raw, str):
        raise ArgumentError(
            f"Arguments for {tool} must be a JSON object, got {type(raw).__name__}."
        )
    if not raw.strip():
        return {}
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ArgumentError(
            f"Arguments for {tool} are not valid JSON ({exc.msg} at line {exc.lineno} "
            f"column {exc.colno}): {_snippet(raw)}. Send one JSON object with the arguments."
        ) from None
    if not isinstance(parsed, dict):
        raise ArgumentError(
            f"Arguments for {tool} must be a JSON object, got {type(parsed).__name__}: "
            f"{_snippet(raw)}."
        )
    return parsed


def find_refs(value: Any) -> tuple[str, ...]:
    """The call ids named by `{"$ref": "<id>"}` anywhere in `value`, in order of appearance."""
    if type(value) is dict:  # the usual case, flat arguments, without a walk
        for item in value.values():
            if type(item) not in _SCALARS:
                break
        else:
            return ()
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, Mapping):
            ref = node.get(REF_KEY)
            if len(node) == 1 and isinstance(ref, str):
                found.append(ref)
                return
            for item in node.values():
                walk(item)
        elif isinstance(node, list | tuple):
            for item in node:
                walk(item)

    walk(value)
    return tuple(dict.fromkeys(found))


def substitute_refs(value: Any, values: Mapping[str, Any]) -> Any:
    """Return `value` with each `{"$ref": id}` replaced by `values[id]`."""
    if isinstance(value, Mapping):
        ref = value.get(REF_KEY)
        if len(value) == 1 and isinstance(ref, str) and ref in values:
            return values[ref]
        return {key: substitute_refs(item, values) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [substitute_refs(item, values) for item in value]
    return value


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


def _snippet(text: str, limit: int = _SNIPPET) -> str:
    return text if len(text) <= limit else text[:limit] + "..."
