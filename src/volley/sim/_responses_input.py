"""What the Responses API accepts as ``tools`` and ``input``, and how it words a refusal.

The input is a list of items; the model's own items (``function_call``, ``reasoning``, assistant
messages) are grouped into turns: a run of them is one assistant message of the history. Every
``function_call`` needs a ``function_call_output`` with its ``call_id`` later in the input, and an
output needs a call before it; call ids and outputs are unique.

Echoed output items are checked as the real API checks them. Item ids carry their type's prefix
(``msg``, ``fc``, ``rs``). A ``reasoning`` item must be followed by its required following item,
the output item the model wrote right after it: a ``function_call``, or an assistant message item
that still has its ``id`` (a message rebuilt as ``{"role": "assistant", "content": ...}`` is not
it, and the API answers "Item 'rs_...' of type 'reasoning' was provided without its required
following item."). The reverse is checked for the simulator's own reasoning responses
(``paired``): each of its messages must come right after the reasoning item of its response, or
the API answers "Item 'msg_...' of type 'message' was provided without its required 'reasoning'
item: 'rs_...'.". A function call is not checked that way: from its id alone the simulator cannot
tell whether it was the item right after a reasoning item.
"""

from __future__ import annotations

import re
from typing import Any, NoReturn

from .._content import render_parts
from .._parts import Part
from ._media import Tally
from ._openai import check_function, invalid_type, looks_like_error, missing
from ._responses_output import output_parts
from ._script import Exchange, ReceivedResult
from ._wire import WireError

__all__ = ["check_input", "check_tools"]

ROLES = ("user", "assistant", "system", "developer")
PHASES = ("commentary", "final_answer")
PREFIXES = {"assistant": "msg", "function_call": "fc", "reasoning": "rs"}
OWN_MESSAGE = re.compile(r"^msg_(sim\d{21})$")
"""The id of a message item the simulator wrote (``msg_`` and its response's suffix)."""


def check_tools(tools: object) -> None:
    """Refuse tools that are not flat, uniquely named function tools with parameters."""
    if not isinstance(tools, list):
        invalid_type("tools", "array")
    names: set[str] = set()
    for k, tool in enumerate(tools):
        where = f"tools[{k}]"
        if not isinstance(tool, dict) or tool.get("type") != "function":
            raise WireError(
                f"Invalid value for '{where}.type': expected 'function'.",
                param=f"{where}.type",
                code="invalid_value",
            )
        name = check_function(tool, where)
        if name in names:
            raise WireError(
                f"Duplicate tool name: '{name}'.", param=f"{where}.name", code="invalid_value"
            )
        names.add(name)


def check_input(
    items: object, *, paired: bool = False, tally: Tally | None = None
) -> tuple[Exchange, ...]:
    """The history ``input`` describes, or the API's refusal of it.

    Args:
        items: The request's ``input``.
        paired: The simulator answers with reasoning items, so each of its own messages must
            come right after the reasoning item of its response.
        tally: Where to count the media of function outputs, for the request's token count.
    """
    tally = tally if tally is not None else Tally()
    if items is None:
        missing("input")
    if isinstance(items, str):
        return ()
    if not isinstance(items, list):
        invalid_type("input", "string or array")
    turns: list[list[str]] = []  # the call ids of each assistant turn
    results: list[list[ReceivedResult]] = []
    calls: dict[str, tuple[str, int]] = {}  # call_id -> (tool name, turn)
    answered: set[str] = set()
    in_turn = False
    reasoning: str | None = None  # the id of a reasoning item still owed its following item
    for i, item in enumerate(items):
        kind = _kind(item, i)
        _check_echo(kind, item, i, reasoning)
        reasoning = None
        if kind == "reasoning":
            reasoning = item.get("id") or ""
        elif kind == "assistant" and paired:
            _check_pairing(item, items[i - 1] if i else None)
        if kind in ("function_call", "reasoning", "assistant"):
            if not in_turn:
                turns.append([])
                results.append([])
            in_turn = True
            if kind == "function_call":
                call_id, name = _function_call(item, i)
                if call_id in calls:
                    raise WireError(
                        f"Duplicate function call with call_id '{call_id}'.",
                        param=f"input[{i}].call_id",
                        code="invalid_value",
                    )
                calls[call_id] = (name, len(turns) - 1)
                turns[-1].append(call_id)
            continue
        in_turn = False
        if kind == "function_call_output":
            call_id, output, parts = _function_output(item, i, tally)
            if call_id not in calls:
                raise WireError(
                    f"No tool call found for function call output with call_id {call_id}.",
                    param="input",
                )
            if call_id in answered:
                raise WireError(
                    f"Duplicate function call output for call_id {call_id}.", param="input"
                )
            answered.add(call_id)
            name, turn = calls[call_id]
            results[turn].append(
                ReceivedResult(call_id, output, looks_like_error(output), name, parts)
            )
    if reasoning is not None:
        _orphan_reasoning(reasoning)
    for call_id in calls:
        if call_id not in answered:
            raise WireError(f"No tool output found for function call {call_id}.", param="input")
    return tuple(
        Exchange(calls=len(ids), results=tuple(got))
        for ids, got in zip(turns, results, strict=True)
    )


def _check_echo(kind: str, item: dict[str, Any], i: int, reasoning: str | None) -> None:
    """An echoed output item's id, phase and summary; the item a reasoning item is owed."""
    item_id = item.get("id")
    prefix = PREFIXES.get(kind)
    if prefix is not None and item_id is not None:
        if not isinstance(item_id, str):
            invalid_type(f"input[{i}].id", "string")
        if not item_id.startswith(prefix):
            raise WireError(
                f"Invalid 'input[{i}].id': '{item_id}'. Expected an ID that begins with "
                f"'{prefix}'.",
                param=f"input[{i}].id",
                code="invalid_value",
            )
    if kind == "assistant" and item.get("phase") not in (None, *PHASES):
        raise WireError(
            f"Invalid value: {item['phase']!r}. Supported values are: 'commentary' and "
            "'final_answer'.",
            param=f"input[{i}].phase",
            code="invalid_value",
        )
    if kind == "reasoning" and not isinstance(item.get("summary"), list):
        missing(f"input[{i}].summary")
    following = kind == "function_call" or (kind == "assistant" and item_id is not None)
    if reasoning is not None and not following:
        _orphan_reasoning(reasoning)


def _orphan_reasoning(item_id: str) -> NoReturn:
    named = f"Item '{item_id}'" if item_id else "Item"
    raise WireError(
        f"{named} of type 'reasoning' was provided without its required following item.",
        param="input",
    )


def _check_pairing(item: dict[str, Any], before: object) -> None:
    """One of the simulator's messages comes right after its response's reasoning item."""
    own = OWN_MESSAGE.match(str(item.get("id")))
    if own is None:
        return
    required = f"rs_{own.group(1)}"
    if not isinstance(before, dict) or before.get("id") != required:
        raise WireError(
            f"Item '{item['id']}' of type 'message' was provided without its required "
            f"'reasoning' item: '{required}'.",
            param="input",
        )


def _kind(item: object, i: int) -> str:
    """``assistant`` for a model message, ``message`` for any other, else the item's type."""
    if not isinstance(item, dict):
        invalid_type(f"input[{i}]", "object")
    kind = item.get("type", "message")
    if kind in ("function_call", "function_call_output", "reasoning"):
        return str(kind)
    if kind != "message":
        raise WireError(
            f"Invalid value: '{kind}'. Supported values are: 'message', 'function_call', "
            "'function_call_output' and 'reasoning'.",
            param=f"input[{i}].type",
            code="invalid_value",
        )
    role = item.get("role")
    if role not in ROLES:
        raise WireError(
            f"Invalid value: {role!r}. Supported values are: 'assistant', 'system', "
            "'developer', and 'user'.",
            param=f"input[{i}].role",
            code="invalid_value",
        )
    if "content" not in item:
        missing(f"input[{i}].content")
    return "assistant" if role == "assistant" else "message"


def _function_call(item: dict[str, Any], i: int) -> tuple[str, str]:
    for key in ("call_id", "name", "arguments"):
        if not isinstance(item.get(key), str):
            missing(f"input[{i}].{key}")
    return item["call_id"], item["name"]


def _function_output(
    item: dict[str, Any], i: int, tally: Tally
) -> tuple[str, str, tuple[Part, ...]]:
    """The call id, the text and (for an output sent as a list) the parts of an output item."""
    call_id = item.get("call_id")
    if not isinstance(call_id, str):
        missing(f"input[{i}].call_id")
    output = item.get("output")
    if isinstance(output, list):
        parts = output_parts(output, i, tally)
        return call_id, render_parts(parts), parts
    if not isinstance(output, str):
        missing(f"input[{i}].output")
    return call_id, output, ()
