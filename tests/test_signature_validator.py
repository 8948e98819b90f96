"""A tool's arguments are validated into keywords exactly as its parameters' model would.

The validator skips making a model instance on every call; what it accepts, the keywords it
gives, and the errors it words must be the model's own, for text and for mappings alike.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from _hyp import examples
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, Field, ValidationError

from volley._signature import describe_function


class Inner(BaseModel):
    name: str
    n: int = 0
    children: list[Inner] = []


async def plain(a: int, b: str = "x", c: float = 1.5, flag: bool = False) -> None: ...


async def nested(
    items: list[Inner],
    mode: Literal["a", "b"] = "a",
    tag: str | None = None,
    pick: Inner | None = None,
) -> None: ...


async def loose(x: Any, when: datetime | None = None, **extra: Any) -> None: ...


async def bounded(
    weight: Annotated[float, Field(gt=0)] = 1.0,
    counts: dict[str, int] | None = None,
    from_: Annotated[str, Field(alias="from")] = "here",
) -> None: ...


FUNCTIONS = [plain, nested, loose, bounded]
KEYS = ["a", "b", "c", "flag", "items", "mode", "tag", "pick", "x", "when", "weight", "counts"]
KEYS += ["name", "n", "children", "zzz", "from", "from_"]

leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["a", "b", "x", "12", "2026-12-03T10:00:00", "", "1.5"]),
    st.text(max_size=5),
)
values = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(KEYS), inner, max_size=4),
    ),
    max_leaves=12,
)
arguments = st.dictionaries(st.sampled_from(KEYS), values, max_size=5)


def by_model(model: type[BaseModel], run: Any) -> tuple[str, Any]:
    try:
        checked = run(model)
    except ValidationError as exc:
        return "errors", exc.errors(include_url=False)
    return "keywords", {**checked.__dict__, **(checked.__pydantic_extra__ or {})}


def by_validator(run: Any) -> tuple[str, Any]:
    try:
        return "keywords", run()
    except ValidationError as exc:
        return "errors", exc.errors(include_url=False)


@examples(400)
@given(fn=st.sampled_from(FUNCTIONS), args=arguments)
def test_keywords_and_errors_are_the_models_own(fn: Any, args: dict[str, Any]) -> None:
    signature = describe_function(fn, fn.__name__)
    model, validator = signature.model, signature.validator
    assert by_validator(lambda: validator.validate_python(args)) == by_model(
        model, lambda m: m.model_validate(args)
    )
    text = json.dumps(args)
    assert by_validator(lambda: validator.validate_json(text)) == by_model(
        model, lambda m: m.model_validate_json(text)
    )
