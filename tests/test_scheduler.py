"""The pure scheduler, driven directly: random registrations and endings, no event loop.

The oracle is the rule itself, applied pairwise: two nodes conflict when their key sets overlap
(`*` covering every key) and at least one of them writes; a node that declares nothing conflicts
only with a write of `*` (the barrier). The scheduler must agree with it without comparing pairs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from _hyp import examples
from hypothesis import given
from hypothesis import strategies as st

from volley import Access
from volley._scheduler import Scheduler

KEYS = ("*", "a", "b", "c")
PROBES = [Access(reads=frozenset(keys)) for keys in ("*", "a", "b", "ab", "*a")]


def touches(xs: frozenset[str], ys: frozenset[str]) -> bool:
    return bool(xs & ys) or ("*" in xs and bool(ys)) or ("*" in ys and bool(xs))


def conflict(a: Access, b: Access) -> bool:
    if a.undeclared or b.undeclared:
        return "*" in a.writes or "*" in b.writes
    return touches(a.writes, b.reads | b.writes) or touches(b.writes, a.reads | a.writes)


keys = st.frozensets(st.sampled_from(KEYS), max_size=2)
ops = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.lists(st.integers(0, 99), max_size=3), keys, keys),
        st.tuples(st.just("add"), st.just([]), keys, st.just(frozenset())),
        st.tuples(st.just("finish"), st.integers(0, 99), st.booleans()),
        st.tuples(st.just("finish"), st.integers(0, 99), st.just(True)),
        st.just(("free",)),  # a call that holds nothing and needs nothing: the caller starts it
        # A call that declares nothing: started by its caller unless it depends on something or
        # a barrier runs.
        st.tuples(st.just("undeclared"), st.lists(st.integers(0, 99), max_size=2)),
        st.just(("fail",)),  # a call that fails before it runs (unknown tool, bad arguments)
    ),
    max_size=40,
)


@dataclass
class Model:
    """What the oracle knows: each node's dependencies, access and fate."""

    deps: list[list[int]] = field(default_factory=list)
    access: list[Access] = field(default_factory=list)
    free: set[int] = field(default_factory=set)
    finished: dict[int, bool] = field(default_factory=dict)  # node -> ok
    returned: list[int] = field(default_factory=list)  # by ready(), in order
    running: list[int] = field(default_factory=list)

    def preds(self, j: int) -> set[int]:
        return set(self.deps[j]) | {i for i in range(j) if conflict(self.access[i], self.access[j])}

    def may_start(self, j: int) -> bool:
        return all(i in self.finished for i in self.preds(j))


def collect_ready(sched: Scheduler, model: Model) -> None:
    """Take what ready() returns and check it is exactly what the rule allows, no earlier."""
    new = sched.ready()
    assert new == sorted(new)
    for node in new:
        assert node not in model.returned, f"{node} returned twice"
        assert node not in model.free, f"{node} was started by its caller"
        assert model.may_start(node), f"{node} is ready before its predecessors ended"
        failed = {d for d in model.deps[node] if model.finished.get(d) is False}
        got = sched.failed_dependency(node)
        assert (got is None) == (not failed), (node, got, failed)
        assert got is None or got in failed
        model.returned.append(node)
        if node not in model.finished:
            model.running.append(node)
    # Nothing that may start is held back.
    startable = {j for j in range(len(model.deps)) if j not in model.free and model.may_start(j)}
    assert startable == set(model.returned)


def apply(sched: Scheduler, model: Model, op: tuple[Any, ...]) -> None:
    n = len(model.deps)
    if op[0] == "add":
        _, seeds, reads, writes = op
        after = sorted({s % n for s in seeds}) if n else []
        access = Access(reads=reads, writes=writes)
        assert sched.add(after=after, access=access) == n
        model.deps.append(after)
        model.access.append(access)
    elif op[0] == "undeclared":
        after = sorted({s % n for s in op[1]}) if n else []
        access = Access(undeclared=True)
        model.deps.append(after)
        model.access.append(access)
        if not after and (number := sched.add_free(undeclared=True)) >= 0:
            assert model.may_start(n)
            assert number == n
            model.free.add(n)
            model.running.append(n)
        else:
            assert after or not model.may_start(n)  # refused only behind a running barrier
            assert sched.add(after=after, access=access) == n
    elif op[0] == "free":
        assert sched.add_free() == n
        model.deps.append([])
        model.access.append(Access())
        model.free.add(n)
        model.running.append(n)
    elif op[0] == "fail":
        assert sched.add() == n
        model.deps.append([])
        model.access.append(Access())
        sched.finish(n, ok=False)
        model.finished[n] = False
    elif model.running:
        _, seed, ok = op
        node = model.running.pop(seed % len(model.running))
        sched.finish(node, ok=ok)
        model.finished[node] = ok


@given(ops)
@examples(3000)
def test_ready_follows_the_precedence_rule_exactly(plan):
    sched, model = Scheduler(), Model()
    versions: list[list[Any]] = []
    for op in plan:
        apply(sched, model, op)
        collect_ready(sched, model)
        versions.append([sched.write_version(p) for p in PROBES])
    # Run everything to the end: every node is started exactly once.
    while model.running:
        node = model.running.pop(0)
        sched.finish(node, ok=node % 3 != 0)
        model.finished[node] = node % 3 != 0
        collect_ready(sched, model)
    n = len(model.deps)
    assert sorted(model.returned) == sorted(set(range(n)) - model.free)
    assert all(sched.is_done(j) for j in range(n))
    assert len(sched) == n

    # The precedence edges: each is a dependency or a conflict, and they order every
    # conflicting pair (a path from the earlier to the later), so such nodes never overlap.
    above: list[set[int]] = []
    for j in range(n):
        edges = set(sched.predecessors(j))
        assert set(model.deps[j]) <= edges
        for i in edges:
            assert i < j
            assert i in model.deps[j] or conflict(model.access[i], model.access[j]), (i, j)
        above.append(edges.union(*(above[i] for i in edges)))
        for i in range(j):
            if conflict(model.access[i], model.access[j]):
                assert i in above[j], f"{i} and {j} conflict but nothing orders them"

    # write_version changes exactly when a write those reads would see is registered.
    adds = [op for op in plan if op[0] in ("add", "free", "fail", "undeclared")]
    step_writes: list[frozenset[str]] = []
    for op in plan:
        step_writes.append(op[3] if op[0] == "add" else frozenset())
    assert len(adds) == n
    for p, probe in enumerate(PROBES):
        for t1 in range(len(plan)):
            for t2 in range(t1 + 1, len(plan)):
                seen = any(touches(w, probe.reads) for w in step_writes[t1 + 1 : t2 + 1])
                same = versions[t1][p] == versions[t2][p]
                assert same != seen, (probe, t1, t2)


def test_a_dependency_must_be_registered_and_a_node_ends_once():
    sched = Scheduler()
    with pytest.raises(ValueError, match="unregistered"):
        sched.add(after=[0])
    node = sched.add()
    with pytest.raises(ValueError, match="unregistered"):
        sched.add(after=[node + 1])
    sched.finish(node, ok=True)
    with pytest.raises(ValueError, match="already finished"):
        sched.finish(node, ok=False)


def test_a_dependency_that_already_failed_fails_the_new_node_at_once():
    sched = Scheduler()
    first = sched.add(access=Access(writes=frozenset({"a"})))
    assert sched.ready() == [first]
    sched.finish(first, ok=False)
    reader = sched.add(access=Access(reads=frozenset({"a"})))  # conflict only: not failed
    dependant = sched.add(after=[first])
    assert sched.ready() == [reader, dependant]
    assert sched.failed_dependency(reader) is None
    assert sched.failed_dependency(dependant) == first


def test_multi_granularity_examples():
    sched = Scheduler()
    write_a = sched.add(access=Access(writes=frozenset({"a"})))
    read_b = sched.add(access=Access(reads=frozenset({"b"})))
    read_all = sched.add(access=Access(reads=frozenset({"*"})))
    write_b = sched.add(access=Access(writes=frozenset({"b"})))
    barrier = sched.add(access=Access(writes=frozenset({"*"})))
    after = sched.add(access=Access(reads=frozenset({"c"})))
    assert sched.ready() == [write_a, read_b]
    assert set(sched.predecessors(read_all)) == {write_a}
    assert set(sched.predecessors(write_b)) == {read_b, read_all}
    assert set(sched.predecessors(barrier)) >= {read_all, write_b}
    assert sched.predecessors(after) == (barrier,)
