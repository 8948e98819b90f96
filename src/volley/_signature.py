"""A Python function's signature and docstring as a tool schema and an argument validator."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, get_type_hints

import docstring_parser
from pydantic import BaseModel, ConfigDict, Field, create_model

__all__ = ["FunctionSignature", "describe_function"]


@dataclass(frozen=True, slots=True)
class FunctionSignature:
    """What `@tool` learns from a function."""

    description: str
    """The docstring's summary and body, without the parameter sections."""
    schema: dict[str, Any]
    """The parameters as standard JSON Schema."""
    model: type[BaseModel]
    """Validates and coerces arguments; its fields are the function's parameters."""
    takes_extra: bool
    """Whether the function has `**kwargs`, so unknown arguments are passed through."""


def describe_function(fn: Callable[..., Any], name: str) -> FunctionSignature:
    """Read `fn`'s parameters, type hints and Google/reST/numpy docstring.

    Raises:
        TypeError: the function takes `*args`, or a positional-only parameter, which a model's
            named arguments cannot fill.
    """
    doc = docstring_parser.parse(inspect.getdoc(fn) or "")
    param_docs = {p.arg_name: p.description for p in doc.params if p.description}
    hints = get_type_hints(fn, include_extras=True)
    fields: dict[str, Any] = {}
    takes_extra = False
    for param in inspect.signature(fn).parameters.values():
        if param.kind is inspect.Parameter.VAR_KEYWORD:
            takes_extra = True
            continue
        if param.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.POSITIONAL_ONLY):
            raise TypeError(
                f"tool {name!r}: parameter {param.name!r} cannot be filled by name; "
                "tools take keyword arguments only"
            )
        annotation = hints.get(param.name, Any)
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[param.name] = (annotation, Field(default, description=param_docs.get(param.name)))
    model = create_model(
        _model_name(name),
        __config__=ConfigDict(
            extra="allow" if takes_extra else "forbid",
            coerce_numbers_to_str=True,
            validate_default=True,
        ),
        **fields,
    )
    schema = _clean_schema(model.model_json_schema())
    description = "\n\n".join(
        part for part in (doc.short_description, doc.long_description) if part
    ).strip()
    return FunctionSignature(description, schema, model, takes_extra)


def _model_name(name: str) -> str:
    cleaned = "".join(ch if ch.isalnum() else "_" for ch in name)
    return f"{cleaned}_arguments"


def _clean_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Drop pydantic's generated titles: noise that costs tokens on every request."""

    def clean(node: Any, *, in_properties: bool = False) -> Any:
        if isinstance(node, Mapping):
            return {
                key: clean(value, in_properties=key in ("properties", "$defs"))
                for key, value in node.items()
                if in_properties or key != "title"
            }
        if isinstance(node, list):
            return [clean(item) for item in node]
        return node

    cleaned: dict[str, Any] = clean(schema)
    cleaned.setdefault("properties", {})
    return cleaned
