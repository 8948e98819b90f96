"""Random batches for the property tests, and oracles written from the rules alone.

A pairwise conflict rule, a naive precedence graph and a plain sequential run: the property
tests check what volley did against these, never against volley's own figures (except where
those figures are the subject). Tool bodies record their own start and end times (`REC`).
"""

from __future__ import annotations

import asyncio
import functools
import json
from dataclasses import dataclass, field
from typing import Any

from _vtime import REC
from hypothesis import strategies as st

from volley import Executor, ToolCall, ToolResult, tool

# -- the oracle: resources and conflicts, pairwise ---------------------------------------------

ROOT = frozenset({"*"})
NONE: frozenset[str] = frozenset()
RECORDS = ("*", "rec:a", "rec:b", "rec:c")


def touches(xs: frozenset[str], ys: frozenset[str]) -> bool:
    """Whether two key sets overlap, `*` covering every key."""
    return bool(xs & ys) or ("*" in xs and bool(ys)) or ("*" in ys and bool(xs))


UNDECLARED = frozenset({"(declares nothing)"})
"""The reads of a call that declares nothing: it conflicts only with a write of `*`."""


def conflict(a: tuple[frozenset[str], frozenset[str]], b: tuple[frozenset[str], frozenset[str]]):
    (ra, wa), (rb, wb) = a, b
    if ra == UNDECLARED or rb == UNDECLARED:
        return "*" in wa or "*" in wb
    return touches(wa, rb | wb) or touches(wb, ra | wa)


def subst(value: Any, returns: dict[str, Any]) -> Any:
    """`value` with each `{"$ref": id}` replaced by that call's return value."""
    if isinstance(value, dict):
        if len(value) == 1 and isinstance(value.get("$ref"), str):
            return returns[value["$ref"]]
        return {k: subst(v, returns) for k, v in value.items()}
    if isinstance(value, list):
        return [subst(v, returns) for v in value]
    return value


# -- a family of tools with every kind of declaration -----------------------------------------


async def _body(name: str, tag: str, d: float, x: Any, fail: bool = False) -> dict[str, str]:
    with REC.body(name, tag, x):
        try:
            await asyncio.sleep(d)
        except asyncio.CancelledError:
            for _ in range(3):  # cleanup that takes a few turns of the loop (and no time)
                await asyncio.sleep(0)
            raise
    if fail:
        raise ValueError(f"{tag} failed on purpose")
    return {"from": tag}


@tool
async def free(tag: str, d: float = 0, x: Any = None, fail: bool = False) -> dict[str, str]:
    return await _body("free", tag, d, x, fail)


@tool(effects="read")
async def rd(tag: str, d: float = 0, x: Any = None, fail: bool = False) -> dict[str, str]:
    return await _body("rd", tag, d, x, fail)


@tool(effects="write")
async def wr(tag: str, d: float = 0, x: Any = None, fail: bool = False) -> dict[str, str]:
    return await _body("wr", tag, d, x, fail)


@tool(reads=lambda a: list(a["r"]), writes=lambda a: list(a["w"]))
async def keyed(
    tag: str, r: list[str], w: list[str], d: float = 0, x: Any = None, fail: bool = False
) -> dict[str, str]:
    return await _body("keyed", tag, d, x, fail)


@tool(reads=lambda a: list(a["r"]))
async def look(
    tag: str, r: list[str], d: float = 0, x: Any = None, fail: bool = False
) -> dict[str, str]:
    return await _body("look", tag, d, x, fail)


@tool(writes=lambda a: ["rec:" + a["rec"]])  # no `rec`: the key function fails, holds `*`
async def strict(
    tag: str, rec: str | None = None, d: float = 0, x: Any = None, fail: bool = False
) -> dict[str, str]:
    return await _body("strict", tag, d, x, fail)


FAMILY = ("free", "rd", "wr", "keyed", "look", "strict")


def oracle_access(name: str, args: dict[str, Any]) -> tuple[frozenset[str], frozenset[str]]:
    if name == "rd":
        return ROOT, NONE
    if name == "wr":
        return NONE, ROOT
    if name == "keyed":
        return frozenset(args["r"]), frozenset(args["w"])
    if name == "look":
        return frozenset(args["r"]), NONE
    if name == "strict":
        rec = args.get("rec")
        return NONE, (frozenset({f"rec:{rec}"}) if isinstance(rec, str) else ROOT)
    if name == "flaky":
        return ROOT, NONE
    return UNDECLARED, NONE


# Tools that fail in the ways a batch must survive.


@tool(max_concurrency=1)
async def boom(tag: str, d: float = 0, x: Any = None) -> str:
    with REC.body("boom", tag, x):
        if d:  # else it raises at its first step, without waiting
            await asyncio.sleep(d)
    raise ValueError(f"boom in {tag}")


@tool(max_concurrency=2)
async def hang(tag: str, x: Any = None) -> str:
    with REC.body("hang", tag, x):
        await asyncio.sleep(10**6)
    return "unreachable"


@tool(timeout=7)
async def slow(tag: str, x: Any = None) -> str:
    with REC.body("slow", tag, x):
        await asyncio.sleep(10**6)
    return "unreachable"


@tool(effects="read", retries=2)
async def flaky(tag: str, fails: int, d: float = 0, x: Any = None) -> dict[str, str]:
    with REC.body("flaky", tag, x):
        await asyncio.sleep(d)
        if len(REC.intervals[tag]) <= fails:
            raise ConnectionError(f"{tag} dropped")
    return {"from": tag}


@tool
async def opaque(tag: str, d: float = 0, x: Any = None) -> object:
    with REC.body("opaque", tag, x):
        if d:
            await asyncio.sleep(d)
    return object()


@tool
def sync_add(tag: str, a: int, b: int) -> int:
    with REC.body("sync_add", tag):
        return a + b


EXECUTOR_TIMEOUT = 50
FAULT_TOOLS = [free, rd, wr, keyed, look, strict, boom, hang, slow, flaky, opaque, sync_add]


# -- building random calls -------------------------------------------------------------------


@dataclass
class Spec:
    """One generated call, and what the generator meant by it."""

    id: str
    name: str
    args: dict[str, Any]
    tag: str
    depends_on: tuple[str, ...] = ()
    needs: list[int] = field(default_factory=list)  # indices of the calls it depends on
    fault: str = "ok"
    text: str | None = None  # the arguments as JSON text, when sent as text
    total: float = 0  # how long it runs, start to end, if it runs
    value: Any = None  # what it returns, if it succeeds
    note: Any = None

    def call(self) -> ToolCall:
        arguments = self.text if self.text is not None else self.args
        # References are opted into only where the batch uses them, so the usual path is tested.
        refs = '"$ref"' in (self.text if self.text is not None else json.dumps(self.args))
        return ToolCall(self.id, self.name, arguments, self.depends_on, refs=refs)


@functools.cache
def _ints(lo: int, hi: int) -> st.SearchStrategy[int]:
    return st.integers(lo, hi)


@functools.cache
def perms(n: int) -> st.SearchStrategy[list[int]]:
    return st.permutations(range(n))


# Cheap draws: building strategies inside generators costs more than running a batch.


def num(draw: Any, lo: int, hi: int) -> int:
    return draw(_ints(lo, hi))


def pick(draw: Any, seq: Any) -> Any:
    return seq[num(draw, 0, len(seq) - 1)]


def coin(draw: Any, one_in: int = 2) -> bool:
    return num(draw, 1, one_in) == 1


def some(draw: Any, seq: Any, most: int) -> list[Any]:
    """Up to `most` distinct items of `seq`."""
    if not seq:
        return []
    return list(dict.fromkeys(pick(draw, seq) for _ in range(num(draw, 0, most))))


def wrapped_refs(draw: Any, ids: list[str]) -> dict[str, Any] | None:
    """An argument value holding a `$ref` to each id, at random depths."""
    if not ids:
        return None
    value: dict[str, Any] = {}
    for k, cid in enumerate(ids):
        ref: Any = {"$ref": cid}
        for _ in range(num(draw, 0, 2)):
            ref = [ref, k] if coin(draw) else {"in": ref}
        value[f"p{k}"] = ref
    return value


def family_args(draw: Any, name: str, tag: str, d: float, x: Any) -> dict[str, Any]:
    args: dict[str, Any] = {"tag": tag, "d": d}
    if x is not None:
        args["x"] = x
    if name in ("keyed", "look"):
        args["r"] = some(draw, RECORDS, 2)
    if name == "keyed":
        args["w"] = some(draw, RECORDS, 2)
    if name == "strict":
        rec = pick(draw, ["a", "b", "c", None, "(omitted)"])
        if rec != "(omitted)":
            args["rec"] = rec
    return args


def split_deps(draw: Any, ids: list[str], refs_allowed: bool) -> tuple[list[str], list[str]]:
    """Split dependencies into `depends_on` ids and `$ref` ids."""
    as_ref = [refs_allowed and coin(draw) for _ in ids]
    return [i for i, r in zip(ids, as_ref, strict=True) if not r], [
        i for i, r in zip(ids, as_ref, strict=True) if r
    ]


def maybe_text(draw: Any, spec: Spec) -> Spec:
    if coin(draw, 4):
        spec.text = json.dumps(spec.args)
    return spec


# -- 2. conflicting calls never overlap; nothing else waits ----------------------------------


@st.composite
def declared_batches(
    draw: Any, *, n: int = 25, failing: bool = False, hangs: bool = False, dups: bool = False
) -> list[Spec]:
    """Calls of the declared family, depending only on earlier calls; with `dups`, some are
    copies of an earlier read that no write has touched since (so they share its result)."""
    specs: list[Spec] = []
    for i in range(num(draw, 0, n)):
        if dups and coin(draw, 5) and (sources := shareable_reads(specs)):
            j = pick(draw, sources)
            copy = Spec(f"c{i}", specs[j].name, specs[j].args, specs[j].tag, note=("dup", j))
            copy.value = specs[j].value
            specs.append(maybe_text(draw, copy))
            continue
        name = pick(draw, FAMILY)
        d = num(draw, 0, 4)
        hung = hangs and coin(draw, 5)
        if hung:
            d = 10**6  # stopped by the executor's timeout
        needs = some(draw, range(i), 2)
        on, refs = split_deps(draw, [f"c{j}" for j in needs], True)
        tag = f"t{i}"
        spec = Spec(f"c{i}", name, {}, tag, depends_on=tuple(on), needs=needs, total=d)
        spec.args = family_args(draw, name, tag, d, wrapped_refs(draw, refs))
        if hung:
            spec.total, spec.note = EXECUTOR_TIMEOUT, "hang"
        if failing and coin(draw, 5):
            spec.args["fail"] = True
        spec.value = {"from": tag}
        specs.append(maybe_text(draw, spec))
    return specs


def shareable_reads(specs: list[Spec]) -> list[int]:
    """Earlier reads that a copy submitted now would share: no dependencies, and no write
    since them that their reads would see."""
    access = [oracle_access(s.name, s.args) for s in specs]
    return [
        j
        for j, s in enumerate(specs)
        if s.name in ("rd", "look")
        and access[j][0]
        and not s.needs
        and s.note is None
        and not any(touches(access[k][1], access[j][0]) for k in range(j + 1, len(specs)))
    ]


def precedence(specs: list[Spec]) -> list[set[int]]:
    """Each call's predecessors: its dependencies and every earlier call it conflicts with."""
    access = [oracle_access(s.name, s.args) for s in specs]
    return [
        set(s.needs) | {i for i in range(j) if conflict(access[i], access[j])}
        for j, s in enumerate(specs)
    ]


def simulate(specs: list[Spec]) -> tuple[list[float], list[float], list[bool]]:
    """Start, end and whether it ran, for each call, with no limit on concurrency."""
    preds = precedence(specs)
    starts: list[float] = []
    ends: list[float] = []
    ok: list[bool] = []
    ran: list[bool] = []
    for j, spec in enumerate(specs):
        if isinstance(spec.note, tuple):  # a shared read: ends with the one it copies
            original = spec.note[1]
            starts.append(ends[original])
            ends.append(ends[original])
            ran.append(False)
            ok.append(ok[original])
            continue
        start = max((ends[i] for i in preds[j]), default=0)
        runs = all(ok[i] for i in spec.needs)
        starts.append(start)
        ends.append(start + (spec.total if runs else 0))
        ran.append(runs)
        ok.append(runs and not spec.args.get("fail") and spec.note != "hang")
    return starts, ends, ran


async def run_all(tools: list[Any], specs: list[Spec], **options: Any) -> list[ToolResult]:
    async with Executor(tools, **options) as ex:
        return await ex.run([s.call() for s in specs])


async def run_all_calls(tools: list[Any], calls: list[ToolCall]) -> list[ToolResult]:
    async with Executor(tools) as ex:
        return await ex.run(calls)


async def assert_all_slots_free(ex: Executor, limit: int, now: float) -> None:
    """As many calls as the executor's limit (up to 4) start at once: no slot was lost."""
    calls = [ToolCall(f"x{i}", "free", {"tag": f"x{i}", "d": 1}) for i in range(min(limit, 4))]
    async with asyncio.timeout(10):
        results = await ex.run(calls)
    assert [r.error_kind for r in results] == [None] * len(calls)
    assert {REC.span(c.arguments["tag"]) for c in calls} == {(now, now + 1)}
