"""A Python function's signature and docstring as a tool schema and an argument validator."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, get_type_hints

import docstring_parser
from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic_core import CoreConfig, SchemaValidator, core_schema

__all__ = ["FunctionSignature", "describe_function", "refuses_non_finite"]


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
    json_validator: SchemaValidator
    """For the JSON text a model wrote: `validator`, or one that refuses non-finite numbers."""
    json_refuses_non_finite: bool
    """Whether `json_validator` refuses NaN, Infinity and numbers too large for a float (so the
    text needs no scan for them): the same keywords as `validator` whenever it succeeds, and a
    failure sends the text to the path that words the error."""


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
    validator = SchemaValidator(_keywords_schema(model))
    # Without turning numbers into strings, a model's `NaN` for a `str` parameter fails here too
    # (the slower path then turns `{"zip": 75001}` into "75001" as the model's validator does).
    strict_text = _keywords_schema(model, numbers_to_str=False)
    if refuses_non_finite(strict_text):
        json_validator, refuses = SchemaValidator(strict_text), True
    else:
        json_validator, refuses = validator, False
    return FunctionSignature(
        description, schema, model, takes_extra, validator, json_validator, refuses
    )


def _keywords_schema(
    model: type[BaseModel], *, numbers_to_str: bool | None = None
) -> core_schema.CoreSchema:
    """The model's fields, validated into a plain dict: the keyword arguments themselves.

    The same field schemas, defaults and config as the model (so the same coercions and the same
    errors), with no model instance made and taken apart on every call: half the cost of
    validating a call's arguments with one or two parameters. `numbers_to_str` overrides the
    config's `coerce_numbers_to_str` for the parameters themselves.
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
            coerce_numbers_to_str=(
                config.get("coerce_numbers_to_str", False)
                if numbers_to_str is None
                else numbers_to_str
            ),
            validate_default=config.get("validate_default", False),
        ),
    )
    if outer is not None:
        keywords = core_schema.definitions_schema(keywords, outer["definitions"])
    return keywords


_TAKE_NO_NUMBER_AS_IS = frozenset({"int", "bool", "none"})
_ONE_INNER = ("nullable", "list", "set", "frozenset")


def refuses_non_finite(schema: Any) -> bool:
    """Whether validating JSON with this core schema refuses every non-finite number by itself.

    pydantic's JSON parser reads `NaN`, `Infinity` and `1e400` as floats; they must never reach a
    tool. A schema refuses them if every value in it is an int, a bool, a string (not made of a
    number), a literal or enum of those, or a list, dict, model of such: anything else (a float,
    `Any`, a function of the user's seeing the raw input, a union, where one refused alternative
    lets another win) answers no, and the text is scanned as before. Only ever wrong on the safe
    side: an unknown kind of schema answers no.
    """
    definitions = {d["ref"]: d for d in schema.get("definitions", ())}
    seen: set[tuple[str, bool]] = set()

    def refuses(node: Any, numbers_to_str: bool) -> bool:
        kind = node["type"]
        config = node.get("config")
        if config is not None:
            numbers_to_str = config.get("coerce_numbers_to_str", False)
        if kind in _TAKE_NO_NUMBER_AS_IS:
            return True
        if kind == "str":
            return not numbers_to_str
        if kind == "literal":
            return all(
                value is None or type(value) in (str, int, bool) for value in node["expected"]
            )
        if kind == "enum":
            return node.get("sub_type") in ("str", "int")
        if kind in _ONE_INNER:
            inner = node.get("items_schema", node.get("schema"))
            return inner is not None and refuses(inner, numbers_to_str)
        if kind == "default":
            return node.get("on_error", "raise") == "raise" and refuses(
                node["schema"], numbers_to_str
            )
        if kind == "tuple":
            return all(refuses(item, numbers_to_str) for item in node["items_schema"])
        if kind == "dict":
            keys, values = node.get("keys_schema"), node.get("values_schema")
            return (
                keys is not None
                and values is not None
                and refuses(keys, numbers_to_str)
                and refuses(values, numbers_to_str)
            )
        if kind == "model":
            return (
                not node.get("custom_init")
                and "post_init" not in node
                and (config or {}).get("extra_fields_behavior") != "allow"
                and refuses(node["schema"], numbers_to_str)
            )
        if kind in ("model-fields", "typed-dict"):
            return node.get("extra_behavior") != "allow" and all(
                refuses(field["schema"], numbers_to_str) for field in node["fields"].values()
            )
        if kind == "definitions":
            return refuses(node["schema"], numbers_to_str)
        if kind == "definition-ref":
            ref = node["schema_ref"]
            if (ref, numbers_to_str) in seen:
                return True  # being looked at further up: its answer is decided there
            seen.add((ref, numbers_to_str))
            return ref in definitions and refuses(definitions[ref], numbers_to_str)
        return False

    return refuses(schema, False)


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
