"""Tools: schemas from functions and from elsewhere, validation, declared resources."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel, Field

import volley
from volley import Access, Tool, Toolbox, tool
from volley._arguments import ArgumentError


class Address(BaseModel):
    street: str
    zip_code: str


@tool
async def ship(
    order_id: int,
    address: Address,
    speed: Literal["standard", "express"] = "standard",
    note: str | None = None,
    weight: Annotated[float, Field(gt=0)] = 1.0,
) -> str:
    """Ship an order to an address.

    The carrier is chosen by the warehouse.

    Args:
        order_id: The order to ship.
        address: Where to send it.
        speed: How fast.
    """
    return "shipped"


def test_schema_comes_from_type_hints_and_docstring() -> None:
    schema = ship.schema
    assert (
        ship.description
        == "Ship an order to an address.\n\nThe carrier is chosen by the warehouse."
    )
    assert schema["type"] == "object"
    assert schema["required"] == ["order_id", "address"]
    assert schema["additionalProperties"] is False
    props = schema["properties"]
    assert props["order_id"] == {"type": "integer", "description": "The order to ship."}
    assert props["speed"]["enum"] == ["standard", "express"]
    assert props["speed"]["default"] == "standard"
    assert props["weight"]["exclusiveMinimum"] == 0
    assert props["address"]["$ref"] == "#/$defs/Address"
    assert set(schema["$defs"]["Address"]["properties"]) == {"street", "zip_code"}
    assert "title" not in str({k: v for k, v in props.items() if k != "address"})


def test_validation_coerces_and_builds_models() -> None:
    kwargs = ship.validate({"order_id": "7", "address": {"street": "Main", "zip_code": "12345"}})
    assert kwargs["order_id"] == 7
    assert kwargs["address"] == Address(street="Main", zip_code="12345")
    assert kwargs["speed"] == "standard"
    assert kwargs["note"] is None


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"address": {"street": "a", "zip_code": "1"}}, "`order_id`: missing required argument"),
        ({"order_id": 1, "address": {"street": "a"}}, "`address.zip_code`: missing required"),
        ({"order_id": 1, "address": {"street": "a", "zip_code": "1"}, "speed": "warp"}, "`speed`"),
        ({"order_id": 1, "address": {"street": "a", "zip_code": "1"}, "weight": -1}, "`weight`"),
    ],
)
def test_validation_errors_name_the_field(arguments: dict[str, Any], expected: str) -> None:
    with pytest.raises(ArgumentError, match=expected.replace("`", ".")):
        ship.validate(arguments)


def test_functions_with_kwargs_accept_extra_arguments() -> None:
    @tool
    def anything(query: str, **filters: Any) -> dict[str, Any]:
        return filters

    assert anything.validate({"query": "x", "color": "red"}) == {"query": "x", "color": "red"}


def test_parameters_a_model_cannot_fill_are_rejected_when_the_tool_is_made() -> None:
    with pytest.raises(TypeError, match="keyword arguments only"):

        @tool
        def positional(a: int, /) -> None: ...

    with pytest.raises(TypeError, match="keyword arguments only"):

        @tool
        def star(*items: int) -> None: ...


def test_from_schema_normalizes_dialects_and_validates_against_them() -> None:
    parameters = {
        "properties": {
            "artist": {"type": "string", "description": "Who."},
            "duration": {"type": "float", "optional": True},
            "tags": {"type": "tuple", "items": {"type": "string"}},
            "extra": {"type": "dict"},
            "whatever": {"type": "any"},
        },
        "required": ["artist", "not_a_property"],
    }
    seen: list[dict[str, Any]] = []
    play = Tool.from_schema("spotify.play", "Play songs.", parameters, lambda **kw: seen.append(kw))
    assert play.schema == {
        "type": "object",
        "properties": {
            "artist": {"type": "string", "description": "Who."},
            "duration": {"type": "number"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "extra": {"type": "object"},
            "whatever": {},
        },
        "required": ["artist"],
    }
    assert play.validate({"artist": "X", "duration": 3, "whatever": [1]}) == {
        "artist": "X",
        "duration": 3.0,
        "whatever": [1],
    }
    with pytest.raises(ArgumentError, match="`duration`"):
        play.validate({"artist": "X", "duration": "long"})
    with pytest.raises(ArgumentError, match="unexpected argument"):
        play.validate({"artist": "X", "volume": 11})


def test_from_schema_handles_refs_enums_unions_and_nullable_types() -> None:
    parameters = {
        "type": "object",
        "properties": {
            "unit": {"enum": ["c", "f"]},
            "point": {"$ref": "#/$defs/Point"},
            "limit": {"type": ["integer", "null"], "minimum": 1},
            "either": {"anyOf": [{"type": "integer"}, {"type": "string", "maxLength": 2}]},
        },
        "$defs": {
            "Point": {
                "type": "object",
                "properties": {"x": {"type": "number"}, "y": {"type": "number"}},
                "required": ["x", "y"],
            }
        },
    }
    t = Tool.from_schema("t", "", parameters, lambda **kw: kw)
    ok = {"unit": "c", "point": {"x": 1, "y": 2}, "limit": None, "either": "ab"}
    assert t.validate(ok) == {**ok, "point": {"x": 1.0, "y": 2.0}}
    for bad in ({"unit": "k"}, {"point": {"x": 1}}, {"limit": 0}, {"either": "abc"}):
        with pytest.raises(ArgumentError):
            t.validate(bad)


def test_declared_effects_become_resources() -> None:
    def make(**options: Any) -> Tool[..., Any]:
        return Tool.from_schema(
            "t", "", {"properties": {"id": {"type": "string"}}}, print, **options
        )

    # Declaring nothing holds no key, but a write barrier still excludes it.
    assert make().access({"id": "1"}) == Access(undeclared=True)
    assert not make().is_declared
    assert make(effects="read").access({}) == Access(reads=frozenset({"*"}))
    assert make(effects="write").access({}) == Access(writes=frozenset({"*"}))
    keyed = make(effects="write", writes=lambda a: [f"record:{a['id']}"])
    assert keyed.access({"id": "7"}) == Access(writes=frozenset({"record:7"}))
    # A key function that cannot read the arguments makes the call a barrier: safe, not fast.
    assert keyed.access({}) == Access(writes=frozenset({"*"}))
    reader = make(reads=["inventory"])
    assert reader.is_read_only
    assert reader.access({}) == Access(reads=frozenset({"inventory"}))
    assert not make(effects="write").is_read_only
    with pytest.raises(ValueError, match="cannot declare writes"):
        make(effects="read", writes=["x"])


@pytest.mark.parametrize("how", ["static", "function"])
def test_a_string_of_keys_is_one_key_not_its_characters(how: str) -> None:
    keys: Any = "note:a" if how == "static" else (lambda a: "note:a")
    writer = Tool.from_schema("w", "", {}, print, writes=keys)
    reader = Tool.from_schema("r", "", {}, print, reads=keys)
    assert writer.access({}) == Access(writes=frozenset({"note:a"}))
    assert reader.access({}) == Access(reads=frozenset({"note:a"}))


def test_toolbox_wraps_functions_and_rejects_duplicate_names() -> None:
    def lookup(key: str) -> str:
        """Look a key up."""
        return key

    box = Toolbox([ship, lookup])
    assert box.names == ["ship", "lookup"]
    assert box["lookup"].description == "Look a key up."
    assert "ship" in box
    assert len(box) == 2
    with pytest.raises(ValueError, match="already in the toolbox"):
        box.add(lookup)


def test_public_names() -> None:
    assert sorted(volley.__all__) == sorted(
        [
            "BATCHING_HINT",
            "UNSET",
            "Access",
            "Agent",
            "Audio",
            "Backend",
            "Batch",
            "BatchStats",
            "CallFinished",
            "CallProgress",
            "CallStarted",
            "CallTiming",
            "ConfigurationError",
            "ErrorKind",
            "Executor",
            "Image",
            "InProcessBackend",
            "IncompleteTurn",
            "MaxTurnsExceeded",
            "Message",
            "ModelTurn",
            "Output",
            "Progress",
            "ProviderError",
            "RunError",
            "RunEvent",
            "RunFailed",
            "RunFinished",
            "RunPaused",
            "RunStarted",
            "RunResult",
            "RunStats",
            "StreamError",
            "TextDelta",
            "Tool",
            "ToolCall",
            "ToolError",
            "ToolOptions",
            "ToolResult",
            "ToolReturns",
            "Toolbox",
            "TurnFinished",
            "TurnRetried",
            "TurnStats",
            "Usage",
            "UserPrompt",
            "VolleyError",
            "idempotency_key",
            "report_progress",
            "tool",
        ]
    )
    for name in volley.__all__:
        assert hasattr(volley, name)


def test_objects_without_properties_keep_required_keys_and_closed_shapes() -> None:
    parameters = {
        "properties": {
            "closed": {"type": "object", "additionalProperties": False},
            "counts": {
                "type": "object",
                "additionalProperties": {"type": "integer"},
                "required": ["total"],
            },
        }
    }
    t = Tool.from_schema("t", "", parameters, print)
    assert t.validate({"closed": {}, "counts": {"total": "3"}}) == {
        "closed": {},
        "counts": {"total": 3},
    }
    with pytest.raises(ArgumentError, match=r"`closed.x`: unexpected key"):
        t.validate({"closed": {"x": 1}})
    with pytest.raises(ArgumentError, match=r"`counts.total`: missing required"):
        t.validate({"counts": {}})
    with pytest.raises(ArgumentError, match=r"`counts.total`: Input should be a valid integer"):
        t.validate({"counts": {"total": "many"}})


def test_every_public_class_s_annotations_resolve_at_run_time() -> None:
    """No public name hides a type behind an import cycle (`typing.get_type_hints` works)."""
    import inspect
    import typing

    for name in volley.__all__:
        value = getattr(volley, name)
        if inspect.isclass(value):
            typing.get_type_hints(value)
