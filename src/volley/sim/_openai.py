"""What OpenAI's two wire formats share: their error shape and how they word common refusals."""

from __future__ import annotations

import json
import re
from typing import Any, NoReturn

from ._wire import WireError

__all__ = [
    "check_function",
    "error_body",
    "invalid_type",
    "looks_like_error",
    "missing",
    "token_cap",
]

TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]+$")
"""Function names both formats accept, of at most 64 characters."""


def error_body(error: WireError) -> dict[str, Any]:
    """OpenAI's error shape."""
    return {
        "error": {
            "message": error.message,
            "type": "invalid_request_error",
            "param": error.param,
            "code": error.code,
        }
    }


def invalid_type(param: str, expected: str) -> NoReturn:
    """Refuse a parameter of the wrong JSON type."""
    article = "an" if expected[0] in "aeiou" else "a"
    raise WireError(
        f"Invalid type for '{param}': expected {article} {expected}.",
        param=param,
        code="invalid_type",
    )


def missing(param: str) -> NoReturn:
    """Refuse a request without a required parameter."""
    raise WireError(
        f"Missing required parameter: '{param}'.", param=param, code="missing_required_parameter"
    )


def looks_like_error(content: str) -> bool:
    """Neither format flags failed tool results: text starting "error", or `{"error": ...}`."""
    if content.lstrip().lower().startswith("error"):
        return True
    try:
        value = json.loads(content)
    except ValueError:
        return False
    return isinstance(value, dict) and "error" in value


def check_function(function: dict[str, Any], where: str) -> str:
    """Check a function tool's `name` and `parameters` (under `where`); return the name."""
    name = function.get("name")
    if not isinstance(name, str):
        missing(f"{where}.name")
    if len(name) > 64:
        raise WireError(
            f"Invalid '{where}.name': string too long. Expected a string with maximum length "
            f"64, but got a string with length {len(name)} instead.",
            param=f"{where}.name",
            code="string_above_max_length",
        )
    if not TOOL_NAME.match(name):
        raise WireError(
            f"Invalid '{where}.name': string does not match pattern. Expected a string that "
            f"matches the pattern '{TOOL_NAME.pattern}'.",
            param=f"{where}.name",
            code="invalid_value",
        )
    if not isinstance(function.get("parameters"), dict):
        missing(f"{where}.parameters")
    return name


def token_cap(body: dict[str, Any], param: str, minimum: int = 1) -> int | None:
    """The output-token cap ``body[param]`` (None if absent or null), refused below ``minimum``."""
    value = body.get(param)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        invalid_type(param, "integer")
    if value < minimum:
        raise WireError(
            f"Invalid '{param}': integer below minimum value. Expected a value >= {minimum}, "
            f"but got {value} instead.",
            param=param,
            code="integer_below_min_value",
        )
    return value
