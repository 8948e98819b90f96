"""What OpenAI's two wire formats share: their error shape and how they word common refusals."""

from __future__ import annotations

import json
from typing import Any, NoReturn

from ._wire import WireError

__all__ = ["error_body", "invalid_type", "looks_like_error", "missing"]


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
    raise WireError(
        f"Invalid type for '{param}': expected a {expected}.", param=param, code="invalid_type"
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
