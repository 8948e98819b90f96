"""Calls that wait for calls not yet registered, and the dependency cycles among them.

A call may name a dependency that arrives later (programmatic graphs list calls in any order).
Until every call it needs is registered with the scheduler, it is parked here, so that its place
in the conflict order comes after what it depends on. Pure bookkeeping, iterative throughout: a
chain of ten thousand parked calls must not hit the recursion limit.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator
from typing import Generic, Protocol, TypeVar

__all__ = ["Parking"]


class _Waiter(Protocol):
    @property
    def key(self) -> str:
        """The call's id."""
        ...

    @property
    def needs(self) -> tuple[str, ...]:
        """Ids of the calls it depends on."""
        ...


E = TypeVar("E", bound=_Waiter)


class Parking(Generic[E]):
    """Parked calls, indexed by the ids they still wait for."""

    def __init__(self) -> None:
        self.missing: dict[E, set[str]] = {}
        """Each parked call and the ids it still waits for (read it, to test for none cheaply)."""
        self._by_key: dict[str, E] = {}
        self._waiting_on: defaultdict[str, list[E]] = defaultdict(list)

    def __bool__(self) -> bool:
        return bool(self.missing)

    def __iter__(self) -> Iterator[E]:
        return iter(list(self.missing))

    def __contains__(self, entry: object) -> bool:
        return entry in self.missing

    def park(self, entry: E, missing: Iterable[str]) -> None:
        """Park `entry` until each id in `missing` is registered."""
        waits = set(missing)
        self.missing[entry] = waits
        self._by_key[entry.key] = entry
        for key in waits:
            self._waiting_on[key].append(entry)

    def is_awaited(self, key: str) -> bool:
        """Whether a parked call waits for `key`."""
        return any(e in self.missing for e in self._waiting_on.get(key, ()))

    def registered(self, key: str) -> list[E]:
        """`key` is now registered: the parked calls that wait for nothing more, in park order."""
        freed: list[E] = []
        for entry in self._waiting_on.pop(key, ()):
            waits = self.missing.get(entry)
            if waits is None:
                continue
            waits.discard(key)
            if not waits:
                self.remove(entry)
                freed.append(entry)
        return freed

    def remove(self, entry: E) -> None:
        """Take `entry` out (it was placed, failed or cancelled)."""
        self.missing.pop(entry, None)
        if self._by_key.get(entry.key) is entry:
            del self._by_key[entry.key]

    def cycles(self, through: E | None = None) -> list[list[E]]:
        """Groups of parked calls that wait for each other, so none of them can ever start.

        Each group is a strongly connected component (ordered so that each call waits for the
        next); with `through`, only the group containing it.
        """
        starts = [through] if through is not None else list(self.missing)
        groups = [group for group in _components(starts, self._successors) if len(group) > 1]
        if through is not None:
            groups = [group for group in groups if through in group]
        return groups

    def cycle_path(self, entry: E, group: list[E]) -> list[E]:
        """The shortest cycle from `entry` back to itself within `group` (entry first)."""
        members = set(group)
        came_from: dict[E, E] = {}
        queue: deque[E] = deque([entry])
        while queue:
            node = queue.popleft()
            for nxt in self._successors(node):
                if nxt not in members:
                    continue
                if nxt is entry:
                    path = [node]
                    while path[-1] is not entry:
                        path.append(came_from[path[-1]])
                    return path[::-1]
                if nxt not in came_from:
                    came_from[nxt] = node
                    queue.append(nxt)
        return [entry]

    def _successors(self, entry: E) -> list[E]:
        found = (self._by_key.get(key) for key in self.missing.get(entry, ()))
        return [e for e in found if e is not None and e in self.missing]


def _components(starts: list[E], succ: Callable[[E], list[E]]) -> list[list[E]]:
    """Tarjan's strongly connected components, iteratively, from `starts`."""
    index: dict[E, int] = {}
    low: dict[E, int] = {}
    stack: list[E] = []
    on_stack: set[E] = set()
    groups: list[list[E]] = []
    for start in starts:
        if start in index:
            continue
        work: deque[tuple[E, Iterator[E]]] = deque()
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        work.append((start, iter(succ(start))))
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(succ(child))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                group: list[E] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member is node:
                        break
                groups.append(group[::-1])
    return groups
