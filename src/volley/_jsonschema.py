"""Schemas that come from elsewhere (MCP, OpenAPI, BFCL): normalize, then validate with pydantic.

Real-world schemas are written in dialects: BFCL says `dict`, `float`, `tuple` and `any`, adds a
stray `optional` key and sometimes leaves out the top-level `type`. `normalize` turns them into
standard JSON Schema (what providers accept); `validator_for` builds a pydantic validator from
standard JSON Schema, so arguments are checked and coerced exactly as for `@tool` functions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal, NotRequired, Required, Union

import annotated_types
from pydantic import ConfigDict, TypeAdapter

# pydantic rejects `typing.TypedDict` before Python 3.12; the typing_extensions one works on all.
from typing_extensions import TypedDict

__all__ = ["normalize", "validator_for"]

_TYPE_NAMES = {
    "dict": "object",
    "object": "object",
    "float": "number",
    "double": "number",
    "number": "number",
    "int": "integer",
    "integer": "integer",
    "long": "integer",
    "str": "string",
    "string": "string",
    "bool": "boolean",
    "boolean": "boolean",
    "tuple": "array",
    "list": "array",
    "array": "array",
    "null": "null",
    "none": "null",
}
_ANY_TYPES = {"any", ""}
_DROPPED_KEYS = {"optional"}
_SCHEMA_MAPS = ("properties", "$defs", "definitions", "patternProperties")
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SCHEMA_VALUES = ("items", "additionalProperties", "not", "contains")


def normalize(schema: Mapping[str, Any] | None, *, top_level: bool = True) -> dict[str, Any]:
    """Return `schema` as standard JSON Schema.

    Dialect type names become JSON Schema's (`dict` -> `object`, `float` -> `number`,
    `tuple` -> `array`, `any` -> no constraint), non-standard keys are dropped, and a parameters
    block without a `type` becomes an `object`. Unknown keywords are kept: they do no harm.
    """
    if schema is None:
        schema = {}
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _DROPPED_KEYS:
            continue
        if key == "type":
            kind = _normalize_type(value)
            if kind is not None:
                out["type"] = kind
        elif key in _SCHEMA_MAPS and isinstance(value, Mapping):
            out[key] = {name: _normalize_nested(sub) for name, sub in value.items()}
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            out[key] = [_normalize_nested(sub) for sub in value]
        elif key in _SCHEMA_VALUES and isinstance(value, Mapping):
            out[key] = _normalize_nested(value)
        else:
            out[key] = value
    if top_level:
        out.setdefault("type", "object")
        out.setdefault("properties", {})
    if isinstance(out.get("required"), list) and isinstance(out.get("properties"), Mapping):
        out["required"] = [name for name in out["required"] if name in out["properties"]]
    return out


def _normalize_nested(schema: Any) -> Any:
    return normalize(schema, top_level=False) if isinstance(schema, Mapping) else schema


def _normalize_type(value: Any) -> str | list[str] | None:
    if isinstance(value, list):
        kinds = [_normalize_type(item) for item in value]
        if any(kind is None for kind in kinds):
            return None
        flat = list(dict.fromkeys(k for k in kinds if isinstance(k, str)))
        return flat[0] if len(flat) == 1 else flat
    if not isinstance(value, str):
        return None
    name = value.strip().lower()
    if name in _ANY_TYPES:
        return None
    return _TYPE_NAMES.get(name, name)


def validator_for(schema: Mapping[str, Any], *, name: str) -> TypeAdapter[Any]:
    """Build a pydantic validator for an object schema in standard JSON Schema.

    Objects become `TypedDict`s, so a validated value is a plain dict with only the keys that
    were sent (coerced as pydantic does); unknown keys at the top level are rejected unless the
    schema allows them, so a model learns it invented an argument.
    """
    builder = _TypeBuilder(schema, name)
    return TypeAdapter(builder.object_type(schema, name, strict_extra=True))


class _TypeBuilder:
    """Turns JSON Schema into Python annotations pydantic understands."""

    def __init__(self, root: Mapping[str, Any], name: str) -> None:
        self._defs: dict[str, Any] = {}
        for key in ("$defs", "definitions"):
            defs = root.get(key)
            if isinstance(defs, Mapping):
                self._defs.update({f"#/{key}/{k}": v for k, v in defs.items()})
        self._resolving: set[str] = set()
        self._count = 0
        self._name = _identifier(name)

    def annotation(self, schema: Any) -> Any:
        if not isinstance(schema, Mapping):
            return Any
        ref = schema.get("$ref")
        if isinstance(ref, str):
            return self._resolve(ref)
        if "const" in schema:
            return _literal([schema["const"]])
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            return _literal(schema["enum"])
        for combiner in ("anyOf", "oneOf"):
            options = schema.get(combiner)
            if isinstance(options, list) and options:
                return _union([self.annotation(option) for option in options])
        kind = schema.get("type")
        if isinstance(kind, list):
            return _union([self.annotation({**schema, "type": k}) for k in kind])
        return self._typed(kind, schema)

    def _typed(self, kind: Any, schema: Mapping[str, Any]) -> Any:
        if kind == "string":
            return _constrained(str, schema, min_length="minLength", max_length="maxLength")
        if kind == "integer":
            return _constrained(int, schema)
        if kind == "number":
            return _constrained(float, schema)
        if kind == "boolean":
            return bool
        if kind == "null":
            return type(None)
        if kind == "array":
            item = self.annotation(schema.get("items", {}))
            return _constrained(list[item], schema, min_length="minItems", max_length="maxItems")  # type: ignore[valid-type]
        if kind == "object" or "properties" in schema:
            return self.object_type(schema, None, strict_extra=False)
        return Any

    def object_type(
        self, schema: Mapping[str, Any], name: str | None, *, strict_extra: bool
    ) -> Any:
        properties = schema.get("properties")
        extra = schema.get("additionalProperties")
        required = _required(schema)
        if not isinstance(properties, Mapping) or not properties:
            values = self.annotation(extra) if isinstance(extra, Mapping) else Any
            if extra is False or required:
                # Keys `required` names without describing them must be there; their values
                # follow `additionalProperties` (the typing of any other keys is then lost).
                named = dict.fromkeys(required, Required[values])
                return _typed_dict(f"{self._name}_{self._next()}", named, forbid=extra is False)
            return dict[str, values]  # type: ignore[valid-type]
        fields: dict[str, Any] = {}
        for key, sub in properties.items():
            kind = self.annotation(sub)
            fields[key] = Required[kind] if key in required else NotRequired[kind]
        forbid = extra is False or (strict_extra and extra is None)
        return _typed_dict(name or f"{self._name}_{self._next()}", fields, forbid=forbid)

    def _resolve(self, ref: str) -> Any:
        target = self._defs.get(ref)
        if target is None or ref in self._resolving:
            return Any
        self._resolving.add(ref)
        try:
            return self.annotation(target)
        finally:
            self._resolving.discard(ref)

    def _next(self) -> int:
        self._count += 1
        return self._count


def _required(schema: Mapping[str, Any]) -> list[str]:
    """The names `required` lists (ignoring a draft-3 style `required: true` on a property)."""
    names = schema.get("required")
    if not isinstance(names, list):
        return []
    return [name for name in names if isinstance(name, str)]


def _typed_dict(name: str, fields: dict[str, Any], *, forbid: bool) -> Any:
    typed: Any = TypedDict(_identifier(name), fields)  # type: ignore[misc]
    config = ConfigDict(extra="forbid" if forbid else "allow", coerce_numbers_to_str=True)
    setattr(typed, "__pydantic_config__", config)  # noqa: B010 (pydantic reads it from the class)
    return typed


def _constrained(
    base: Any,
    schema: Mapping[str, Any],
    *,
    min_length: str | None = None,
    max_length: str | None = None,
) -> Any:
    limits: list[Any] = []
    for key, make in (
        ("minimum", annotated_types.Ge),
        ("maximum", annotated_types.Le),
        ("exclusiveMinimum", annotated_types.Gt),
        ("exclusiveMaximum", annotated_types.Lt),
    ):
        bound = schema.get(key)
        if isinstance(bound, int | float) and not isinstance(bound, bool):
            limits.append(make(bound))
    lengths = ((min_length, annotated_types.MinLen), (max_length, annotated_types.MaxLen))
    for length_key, make_len in lengths:
        size = schema.get(length_key) if length_key else None
        if isinstance(size, int) and not isinstance(size, bool):
            limits.append(make_len(size))
    return Annotated[base, *limits] if limits else base


def _literal(values: list[Any]) -> Any:
    hashable = [v for v in values if isinstance(v, str | int | float | bool) or v is None]
    if len(hashable) != len(values):
        return Any
    return Literal[tuple(hashable)]


def _union(options: list[Any]) -> Any:
    if any(option is Any for option in options):
        return Any
    return Union[tuple(options)]  # noqa: UP007


def _identifier(name: str) -> str:
    cleaned = "".join(ch if ch.isalnum() else "_" for ch in name)
    return cleaned if cleaned[:1].isalpha() else f"T_{cleaned}"
