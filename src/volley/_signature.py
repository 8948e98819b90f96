"""A Python function's signature and docstring as a tool schema and an argument validator."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, get_type_hints

import docstring_parser
from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic_core import CoreConfig, SchemaValidator, core_schema

__all__ = ["FunctionSignature", "describe_function"]


@dataclass(frozen=True, slots=True)
class FunctionSignature:
    """What `@tool` learns from a function."""

    description: str
    """The docstring's summary and body, without the parameter sections."""
    schema: dict[str, Any]
    """The parameters as standard JSON Schema."""
    model: type[BaseModel]
    """Its fields are the function's parameters (the schema is its JSON Schema)."""
    takes_extra: bool
    """Whether the function has `**kwargs`, so unknown arguments are passed through."""
    validator: SchemaValidator
    """Validates and coerces arguments into the keyword arguments for the function."""


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
    return FunctionSignature(description, schema, model, takes_extra, _keywords_validator(model))


def _keywords_validator(model: type[BaseModel]) -> SchemaValidator:
    """The model's fields, validated into a plain dict: the keyword arguments themselves.

    The same field schemas, defaults and config as the model (so the same coercions and the same
    errors), with no model instance made and taken apart on every call: half the cost of
    validating a call's arguments with one or two parameters.
    """
    schema: Any = dict(model.__pydantic_core_schema__)
    outer = schema if schema["type"] == "definitions" else None  # models nested in parameters
    built = outer["schema"] if outer is not None else schema
    if built["type"] != "model" or built["schema"]["type"] != "model-fields":
        raise TypeError(f"{model.__name__}: an argument model has fields only")
    config = built.get("config", {})
    keywords: core_schema.CoreSchema = core_schema.typed_dict_schema(
        {
            name: core_schema.typed_dict_field(
                field["schema"],
                required=field["schema"]["type"] != "default",
                validation_alias=field.get("validation_alias"),  # `Field(alias=...)`
                serialization_alias=field.get("serialization_alias"),
            )
            for name, field in built["schema"]["fields"].items()
        },
        extra_behavior=config.get("extra_fields_behavior", "ignore"),
        config=CoreConfig(
            coerce_numbers_to_str=config.get("coerce_numbers_to_str", False),
            validate_default=config.get("validate_default", False),
        ),
    )
    if outer is not None:
        keywords = core_schema.definitions_schema(keywords, outer["definitions"])
    return SchemaValidator(keywords)


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
