"""The BFCL parallel-call corpus: real tool schemas and real batches of calls, end to end.

The corpus (tests/data/bfcl, see its README) has 400 entries: the functions offered to a model,
and the calls a correct model makes in one turn, as lists of acceptable values per parameter.
Every function must convert to standard JSON Schema, and every ground-truth batch must validate
and run through the executor, reaching the tool with exactly the arguments that were sent.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from _hyp import examples
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from volley import ErrorKind, Executor, Tool, ToolCall, ToolResult

DATA = Path(__file__).parent / "data" / "bfcl"
CATEGORIES = ("parallel", "parallel_multiple")

BFCL_TYPE_NAMES = {"dict", "float", "tuple", "any"}
JSON_SCHEMA_TYPES = {"object", "array", "string", "number", "integer", "boolean", "null"}

# --- ground-truth calls the corpus itself gets wrong ----------------------------------------
# (entry id, function, parameter) for each parameter that the function's own schema rejects.
# Everything else in those entries must still validate and run.

FIRST_CHOICE_REJECTED = {
    # The ground truth passes the Python expressions "data['sales']" and "data['future_sales']"
    # (text) where the schema declares arrays of numbers.
    ("parallel_multiple_21", "linear_regression_fit", "x"),
    ("parallel_multiple_21", "linear_regression_fit", "y"),
    # `type` ("credit" or left out) is a key of the items of `transactions`, not a parameter of
    # the function; the ground truth puts it at the top level.
    ("parallel_multiple_26", "bank.calculate_balance", "type"),
    # The schema declares `elements` an array of integers; the first call sorts words.
    ("parallel_multiple_94", "sort_list", "elements"),
}
FIRST_CHOICE_REJECTED_CALLS = 3

SECOND_CHOICE_REJECTED = FIRST_CHOICE_REJECTED | {
    # `mod` may be left out or be null, but it is declared a plain float: null is not a number.
    # (Both calls of the entry.)
    ("parallel_152", "math.power", "mod"),
    # `permeability` is a parameter of calculate_magnetic_field, another function of the
    # entry; the ground truth gives it (or nothing) to calculate_voltage_difference.
    ("parallel_multiple_12", "calculate_voltage_difference", "permeability"),
}
SECOND_CHOICE_REJECTED_CALLS = 6


# --- the corpus ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    id: str
    category: str
    functions: list[dict[str, Any]]
    ground_truth: list[tuple[str, dict[str, list[Any]]]]
    """(function name, {parameter: [acceptable values]}) per call."""


def _read(path: Path) -> list[dict[str, Any]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _load() -> list[Entry]:
    entries = []
    for category in CATEGORIES:
        questions = _read(DATA / f"{category}.questions.jsonl")
        answers = {answer["id"]: answer for answer in _read(DATA / f"{category}.answers.jsonl")}
        assert sorted(answers) == sorted(q["id"] for q in questions)
        for question in questions:
            calls = answers[question["id"]]["ground_truth"]
            assert all(len(call) == 1 for call in calls)
            entries.append(
                Entry(
                    id=question["id"],
                    category=category,
                    functions=question["function"],
                    ground_truth=[next(iter(call.items())) for call in calls],
                )
            )
    return entries


ENTRIES = _load()
BY_ID = {entry.id: entry for entry in ENTRIES}


# --- choosing arguments from the ground truth ------------------------------------------------

Pick = Callable[[list[Any]], Any]


def first_value(acceptable: list[Any]) -> Any:
    """The first acceptable value ("" means: leave the parameter out)."""
    return acceptable[0]


def first_non_empty(acceptable: list[Any]) -> Any:
    """The first acceptable value that sends something, if there is one."""
    return next((value for value in acceptable if value != ""), "")


def choose(params: dict[str, list[Any]], pick: Pick) -> dict[str, Any]:
    """Arguments from {param: [acceptable values]}; nested objects are written the same way."""
    arguments = {}
    for name, acceptable in params.items():
        value = pick(acceptable)
        if isinstance(value, str) and value == "":
            continue
        arguments[name] = choose(value, pick) if isinstance(value, dict) else value
    return arguments


# --- tools and runs --------------------------------------------------------------------------


@dataclass
class Stubbed:
    """An entry's functions as tools whose stubs record the keyword arguments they get."""

    tools: list[Tool[..., Any]]
    log: list[tuple[str, dict[str, Any]]]


@cache
def stubbed(entry_id: str, *, sync: bool) -> Stubbed:
    log: list[tuple[str, dict[str, Any]]] = []

    def stub_for(name: str) -> Callable[..., Any]:
        def stub(**kwargs: Any) -> dict[str, Any]:
            log.append((name, kwargs))
            return {"tool": name, "arguments": kwargs}

        async def async_stub(**kwargs: Any) -> dict[str, Any]:
            return stub(**kwargs)

        return stub if sync else async_stub

    tools = [
        Tool.from_schema(fn["name"], fn["description"], fn["parameters"], stub_for(fn["name"]))
        for fn in BY_ID[entry_id].functions
    ]
    return Stubbed(tools, log)


def schemas(entry_id: str) -> dict[str, dict[str, Any]]:
    """The normalized schema of each function of an entry, by name."""
    return {tool.name: tool.schema for tool in stubbed(entry_id, sync=False).tools}


@cache
def standard_validator(entry_id: str, name: str) -> Draft202012Validator:
    """A standard validator of the function's schema, rejecting unknown arguments as volley does."""
    return Draft202012Validator({"additionalProperties": False, **schemas(entry_id)[name]})


def standard_accepts(entry_id: str, name: str, arguments: dict[str, Any]) -> bool:
    return standard_validator(entry_id, name).is_valid(arguments)


@dataclass
class Run:
    entry: Entry
    calls: list[ToolCall]
    results: list[ToolResult]
    log: list[tuple[str, dict[str, Any]]]


def run_batches(batches: list[tuple[Entry, list[ToolCall]]], *, sync: bool = False) -> list[Run]:
    """Run each entry's calls as one batch of an executor made of the entry's tools.

    The stubs are async (run on the event loop) or, with `sync`, plain functions (run in the
    executor's threads).
    """

    async def main() -> list[Run]:
        runs = []
        for entry, calls in batches:
            stubs = stubbed(entry.id, sync=sync)
            stubs.log.clear()
            async with Executor(stubs.tools) as ex:
                results = await ex.run(calls)
            runs.append(Run(entry, calls, results, list(stubs.log)))
        return runs

    return asyncio.run(main())


def ground_truth_calls(entry: Entry, pick: Pick, *, as_text: bool = False) -> list[ToolCall]:
    calls = []
    for index, (name, params) in enumerate(entry.ground_truth):
        arguments = choose(params, pick)
        sent: dict[str, Any] | str = json.dumps(arguments) if as_text else arguments
        calls.append(ToolCall(id=f"{entry.id}#{index}", name=name, arguments=sent))
    return calls


def named_fields(content: str) -> set[str]:
    """The top-level arguments an invalid_arguments message names (`field.sub`: ...)."""
    return {where.split(".")[0] for where in re.findall(r"`([^`]+)`: ", content)}


def remove_once(items: list[Any], expected: list[Any]) -> list[Any]:
    """`items` less one equal (==) item per expected item; fails if one is missing."""
    left = list(items)
    for item in expected:
        assert item in left, f"never recorded: {item!r}"
        left.remove(item)
    return left


# --- counts ----------------------------------------------------------------------------------


def test_corpus_counts() -> None:
    assert len(ENTRIES) == 400
    by_category = Counter(entry.category for entry in ENTRIES)
    assert by_category == {"parallel": 200, "parallel_multiple": 200}
    calls = Counter()
    for entry in ENTRIES:
        calls[entry.category] += len(entry.ground_truth)
        offered = {fn["name"] for fn in entry.functions}
        assert {name for name, _ in entry.ground_truth} <= offered, entry.id
        if entry.category == "parallel":
            assert len(entry.functions) == 1, entry.id
            assert 2 <= len(entry.ground_truth) <= 8, entry.id
        else:
            assert 2 <= len(entry.functions) <= 4, entry.id
            assert 2 <= len(entry.ground_truth) <= 5, entry.id
    assert calls == {"parallel": 540, "parallel_multiple": 607}
    assert calls.total() == 1147


# --- schemas ---------------------------------------------------------------------------------


def subschemas(schema: Any) -> Iterator[dict[str, Any]]:
    """Every schema inside `schema` (itself included), not the names of its properties."""
    if not isinstance(schema, dict):
        return
    yield schema
    for key in ("properties", "$defs", "definitions", "patternProperties"):
        for sub in (schema.get(key) or {}).values():
            yield from subschemas(sub)
    for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
        for sub in schema.get(key) or []:
            yield from subschemas(sub)
    for key in ("items", "additionalProperties", "not", "contains"):
        yield from subschemas(schema.get(key))


def type_names(schema: dict[str, Any]) -> set[str]:
    kind = schema.get("type")
    if kind is None:
        return set()
    return set(kind) if isinstance(kind, list) else {kind}


def test_the_corpus_uses_the_bfcl_dialect() -> None:
    # So that the next test means something: every dialect feature is there to be converted.
    seen: Counter[str] = Counter()
    for entry in ENTRIES:
        for fn in entry.functions:
            for sub in subschemas(fn["parameters"]):
                seen.update(type_names(sub) & BFCL_TYPE_NAMES)
                seen.update(["optional"] if "optional" in sub else [])
    assert set(seen) == {*BFCL_TYPE_NAMES, "optional"}
    assert seen["dict"] > 700
    assert seen["float"] > 200


def test_every_function_converts_to_standard_json_schema() -> None:
    converted = 0
    for entry in ENTRIES:
        for fn in entry.functions:
            tool = Tool.from_schema(fn["name"], fn["description"], fn["parameters"], dict)
            schema = tool.schema
            Draft202012Validator.check_schema(schema)
            assert schema["type"] == "object", (entry.id, fn["name"])
            assert set(schema["properties"]) == set(fn["parameters"]["properties"])
            assert schema["required"] == fn["parameters"]["required"]
            for sub in subschemas(schema):
                assert "optional" not in sub, (entry.id, fn["name"], sub)
                names = type_names(sub)
                assert not names & BFCL_TYPE_NAMES, (entry.id, fn["name"], sub)
                assert names <= JSON_SCHEMA_TYPES, (entry.id, fn["name"], sub)
            # The schema is plain JSON, ready to send to a provider.
            assert json.loads(json.dumps(schema)) == schema
            converted += 1
    assert converted == sum(len(entry.functions) for entry in ENTRIES)


def test_dialect_types_become_their_json_schema_equivalents() -> None:
    coordinates = schemas("parallel_133")["calculate_distance"]["properties"]["coord1"]
    assert coordinates["type"] == "array"
    assert coordinates["items"] == {"type": "number"}
    data = schemas("parallel_multiple_194")["random_forest.train"]["properties"]["data"]
    assert "type" not in data
    restaurant = schemas("parallel_multiple_15")["restaurant.search"]
    assert "optional" not in restaurant
    assert restaurant["properties"]["rating"]["type"] == "number"


# --- ground truth through the executor ---------------------------------------------------------


def check_ground_truth(pick: Pick, *, sync: bool) -> tuple[set[tuple[str, str, str]], int]:
    """Run every entry's ground truth; return the rejected (entry, function, parameter)s."""
    batches = [(entry, ground_truth_calls(entry, pick)) for entry in ENTRIES]
    runs = run_batches(batches, sync=sync)
    rejected: set[tuple[str, str, str]] = set()
    rejected_calls = 0
    for run in runs:
        assert len(run.results) == len(run.calls), run.entry.id
        ran = []
        for call, result in zip(run.calls, run.results, strict=True):
            assert result.call_id == call.id
            assert result.name == call.name
            assert isinstance(call.arguments, dict)
            # volley and a standard JSON Schema validator agree on every call.
            standard = standard_accepts(run.entry.id, call.name, call.arguments)
            assert standard == (not result.is_error), (call, result.content)
            if result.is_error:
                assert result.error_kind == ErrorKind.INVALID_ARGUMENTS, result
                fields = named_fields(result.content)
                assert fields, result.content
                rejected |= {(run.entry.id, call.name, field) for field in fields}
                rejected_calls += 1
                continue
            # The tool got exactly the arguments that were sent (ints pass where numbers are
            # declared and arrive as floats: == holds).
            assert result.value == {"tool": call.name, "arguments": call.arguments}, call
            assert json.loads(result.content)["tool"] == call.name
            ran.append((call.name, call.arguments))
        assert remove_once(run.log, ran) == [], run.entry.id
    return rejected, rejected_calls


def test_ground_truth_first_acceptable_values_run() -> None:
    rejected, calls = check_ground_truth(first_value, sync=True)
    assert rejected == FIRST_CHOICE_REJECTED
    assert calls == FIRST_CHOICE_REJECTED_CALLS


def test_ground_truth_first_non_empty_values_run() -> None:
    rejected, calls = check_ground_truth(first_non_empty, sync=False)
    assert rejected == SECOND_CHOICE_REJECTED
    assert calls == SECOND_CHOICE_REJECTED_CALLS


def check_json_text_like_dicts(pick: Pick) -> None:
    as_dicts = run_batches([(entry, ground_truth_calls(entry, pick)) for entry in ENTRIES])
    as_text = run_batches(
        [(entry, ground_truth_calls(entry, pick, as_text=True)) for entry in ENTRIES]
    )
    for dicts, texts in zip(as_dicts, as_text, strict=True):
        assert all(isinstance(call.arguments, str) for call in texts.calls)
        for a, b in zip(dicts.results, texts.results, strict=True):
            assert (a.call_id, a.is_error, a.error_kind, a.content, a.value) == (
                b.call_id,
                b.is_error,
                b.error_kind,
                b.content,
                b.value,
            )
        assert remove_once(texts.log, dicts.log) == []


def test_arguments_as_json_text_behave_like_dicts() -> None:
    check_json_text_like_dicts(first_value)


def test_arguments_as_json_text_behave_like_dicts_second_choice() -> None:
    check_json_text_like_dicts(first_non_empty)


# --- invalid arguments -----------------------------------------------------------------------


def accepted_calls(entry: Entry) -> Iterator[tuple[int, str, dict[str, Any]]]:
    """(index, function, arguments) of the entry's first-choice calls the schema accepts."""
    for index, (name, params) in enumerate(entry.ground_truth):
        arguments = choose(params, first_value)
        if standard_accepts(entry.id, name, arguments):
            yield index, name, arguments


def test_a_missing_required_argument_is_named() -> None:
    batches = []
    expected: dict[str, str] = {}
    for entry in ENTRIES:
        calls = []
        for index, name, arguments in accepted_calls(entry):
            for param in schemas(entry.id)[name]["required"]:
                if param in arguments:
                    call_id = f"{entry.id}#{index}-{param}"
                    less = {k: v for k, v in arguments.items() if k != param}
                    calls.append(ToolCall(id=call_id, name=name, arguments=less))
                    expected[call_id] = param
        batches.append((entry, calls))
    runs = run_batches(batches)
    checked = 0
    for run in runs:
        assert run.log == [], run.entry.id  # nothing ran
        for result in run.results:
            param = expected[result.call_id]
            assert result.error_kind == ErrorKind.INVALID_ARGUMENTS, result
            assert f"`{param}`: missing required argument" in result.content, result.content
            assert named_fields(result.content) == {param}, result.content
            assert result.name in result.content
            checked += 1
    assert checked == len(expected)
    assert checked > 2000


def wrong_value(schema: dict[str, Any]) -> Any:
    """A value of the wrong type for a parameter: a list, or an integer where a list goes."""
    return 7 if schema.get("type") == "array" else [1, 2]


def test_a_value_of_the_wrong_type_is_named() -> None:
    batches = []
    expected: dict[str, str] = {}
    for entry in ENTRIES:
        calls = []
        for index, name, arguments in accepted_calls(entry):
            properties = schemas(entry.id)[name]["properties"]
            for param in arguments:
                if "type" not in properties[param]:
                    continue  # BFCL's `any`: every value is right
                call_id = f"{entry.id}#{index}-{param}"
                bad = {**arguments, param: wrong_value(properties[param])}
                calls.append(ToolCall(id=call_id, name=name, arguments=bad))
                expected[call_id] = param
        batches.append((entry, calls))
    runs = run_batches(batches)
    checked = 0
    for run in runs:
        assert run.log == [], run.entry.id
        for call, result in zip(run.calls, run.results, strict=True):
            param = expected[result.call_id]
            assert result.error_kind == ErrorKind.INVALID_ARGUMENTS, result
            assert named_fields(result.content) == {param}, result.content
            assert isinstance(call.arguments, dict)
            assert not standard_accepts(run.entry.id, call.name, call.arguments)
            checked += 1
    assert checked == len(expected)
    assert checked > 2500


def test_required_keys_of_an_object_without_properties_are_enforced() -> None:
    # parallel_29: `population` is a BFCL `dict` listing required keys but no properties.
    entry = BY_ID["parallel_29"]
    name, params = entry.ground_truth[0]
    arguments = choose(params, first_value)
    assert arguments["population"] == {"adults": 2, "children": 2, "singles": 0}
    partial = {**arguments, "population": {"adults": 2, "pets": 1}}
    more = {**arguments, "population": {**arguments["population"], "pets": 1}}
    calls = [
        ToolCall(id="partial", name=name, arguments=partial),
        ToolCall(id="more", name=name, arguments=more),
    ]
    (run,) = run_batches([(entry, calls)])
    missing, extra = run.results
    assert missing.error_kind == ErrorKind.INVALID_ARGUMENTS
    assert "`population.children`: missing required argument" in missing.content
    assert "`population.singles`: missing required argument" in missing.content
    assert not extra.is_error, extra.content  # other keys are allowed, as in JSON Schema
    assert extra.value["arguments"] == more


def test_free_form_objects_take_any_keys() -> None:
    # parallel_multiple_66: `gradeDict` is a BFCL `dict` with no properties at all.
    entry = BY_ID["parallel_multiple_66"]
    calls = [
        ToolCall(id="a", name="highest_grade", arguments={"gradeDict": {}}),
        ToolCall(id="b", name="highest_grade", arguments={"gradeDict": {"x": [1], "y": None}}),
        ToolCall(id="c", name="highest_grade", arguments={"gradeDict": "Math: 85"}),
    ]
    (run,) = run_batches([(entry, calls)])
    assert [r.is_error for r in run.results] == [False, False, True]
    assert named_fields(run.results[2].content) == {"gradeDict"}


# --- any part of a batch, in any order ---------------------------------------------------------


@examples(60)
@given(data=st.data())
def test_any_selection_of_calls_gets_one_result_each_in_order(data: st.DataObject) -> None:
    entry = data.draw(st.sampled_from(ENTRIES), label="entry")
    size = len(entry.ground_truth)
    order = data.draw(
        st.lists(st.integers(0, size - 1), max_size=2 * size), label="calls (by index)"
    )
    as_text = data.draw(st.lists(st.booleans(), min_size=len(order), max_size=len(order)))
    sync = data.draw(st.booleans(), label="sync stubs")
    calls = []
    wanted = []
    for position, (index, text) in enumerate(zip(order, as_text, strict=True)):
        name, params = entry.ground_truth[index]
        arguments = choose(params, first_value)
        sent = json.dumps(arguments) if text else arguments
        calls.append(ToolCall(id=f"{position}:{index}", name=name, arguments=sent))
        bad = not standard_accepts(entry.id, name, arguments)  # volley agrees: see above
        wanted.append((name, arguments, bad))
    (run,) = run_batches([(entry, calls)], sync=sync)
    assert [r.call_id for r in run.results] == [c.id for c in calls]
    ran = []
    for result, (name, arguments, bad) in zip(run.results, wanted, strict=True):
        assert result.name == name
        assert result.is_error == bad, result.content
        if not bad:
            assert result.value == {"tool": name, "arguments": arguments}
            ran.append((name, arguments))
    assert remove_once(run.log, ran) == []
