"""Where each call of a batch goes in its precedence graph, before anything runs it.

A call is registered with the scheduler once every call it names (`depends_on`, `$ref`) is:
until then it is parked, so that its place in the conflict order comes after what it needs. A
read identical to an earlier one, with no write between them, is registered as its twin. Calls
whose dependencies close a cycle can never run: they are handed to `fail`, the batch's way of
answering a call that will not run. Nothing here starts a call or touches the loop.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import pydantic_core

from ._access import NO_ACCESS, Access
from ._call import ErrorKind
from ._entry import Entry
from ._parking import Parking
from ._results import on_a_cycle
from ._scheduler import Scheduler

__all__ = ["Placement"]


def _fail_after_end(entry: Entry, kind: ErrorKind, message: str) -> None:
    raise RuntimeError(f"call {entry.key!r} was failed ({kind}) after its batch had ended")


class Placement:
    """A batch's graph: which node each call is, and the calls still waiting to get one.

    The batch reads `scheduler`, `by_id`, `by_node` and `parking` directly, and registers a call
    that waits for nothing itself (its hot path); every other registering is done here.
    """

    def __init__(self, *, dedupe: bool, fail: Callable[[Entry, ErrorKind, str], None]) -> None:
        self.scheduler = Scheduler()
        self.by_id: dict[str, Entry] = {}
        """Every call submitted, by id (the first, when an id is taken twice)."""
        self.by_node: list[Entry] = []
        """The registered calls, by node number."""
        self.parking: Parking[Entry] = Parking()
        self.deferring_cycles = False
        """While calls known together are submitted: their cycles are found once, at the end."""
        self._dedupe = dedupe
        self._fail = fail
        self._newly_registered: list[str] = []
        self._reads = IdenticalReads()

    def let_go(self) -> None:
        """Drop `fail` once the batch has ended: it is the batch's bound method, a cycle."""
        self._fail = _fail_after_end

    def registered_free(self, entry: Entry) -> None:
        """Note that the batch registered `entry` itself while calls were parked.

        (`Scheduler.add_free`, on the batch's hot path.) A parked call may have waited for it.
        """
        self._newly_registered.append(entry.key)

    def place(self, entry: Entry) -> None:
        """Register the entry if every call it needs is registered; otherwise park it."""
        missing = [need for need in entry.needs if not self._registered(need)]
        if not missing:
            self._register(entry)
            return
        self.parking.park(entry, missing)
        # A new call closes a cycle only if a parked call already waits for it.
        if not self.deferring_cycles and self.parking.is_awaited(entry.key):
            self.fail_cycles(self.parking.cycles(through=entry))

    def fail_cycles(self, groups: list[list[Entry]]) -> None:
        """Take the calls of each cycle out of the parking, and fail each naming its cycle."""
        for group in groups:
            paths = {id(m): self.parking.cycle_path(m, group) for m in group}
            for member in group:
                self.parking.remove(member)
            for member in group:
                path = " -> ".join(e.key for e in [*paths[id(member)], member])
                self._fail(member, *on_a_cycle(path))

    def unpark(self) -> None:
        """Register the parked calls whose last missing dependency has been registered."""
        while self._newly_registered:
            key = self._newly_registered.pop()
            for entry in self.parking.registered(key):
                self._register(entry)

    def add_node(self, entry: Entry, *, after: Sequence[int], access: Access = NO_ACCESS) -> None:
        """Register the entry as a node after the nodes `after`, holding `access`."""
        entry.node = self.scheduler.add(after=after, access=access)
        self.by_node.append(entry)
        if self.parking and self.by_id.get(entry.key) is entry:
            self._newly_registered.append(entry.key)

    def _registered(self, call_id: str) -> bool:
        entry = self.by_id.get(call_id)
        return entry is not None and entry.node >= 0

    def _register(self, entry: Entry) -> None:
        after = [self.by_id[need].node for need in entry.needs] if entry.needs else ()
        tool = entry.tool
        if self._dedupe and tool is not None and tool.is_read_only and not after:
            version = self.scheduler.write_version(entry.access)
            original = self._reads.original_of(entry, tool.name, version)
            if original is not None:
                # It shares the original's result, but holds its own keys: if the original
                # is cancelled on its own, this call runs itself, and must be in the graph.
                entry.original = original
                self.add_node(entry, after=[original.node], access=entry.access)
                return
        self.add_node(entry, after=after, access=entry.access)


_SCALARS = frozenset({str, int, float, bool, type(None)})


def normal_arguments(entry: Entry) -> Hashable | None:
    """The validated arguments in a canonical form, to recognize identical reads (or `None`).

    Scalar arguments (most reads: an id, a query) are compared as they are, each with its
    type, so that `1`, `1.0` and `True` stay apart as their JSON does; anything else as
    canonical JSON, which costs ten times more.
    """
    kwargs = entry.kwargs
    if kwargs is not None:
        scalars: list[tuple[str, type, Any]] = []
        for key, value in kwargs.items():
            kind = type(value)
            if kind not in _SCALARS:
                break
            scalars.append((key, kind, value))
        else:
            scalars.sort()  # the keys differ: only they are compared
            return tuple(scalars)
    try:
        return json.dumps(pydantic_core.to_jsonable_python(kwargs), sort_keys=True)
    except (TypeError, ValueError, RecursionError, pydantic_core.PydanticSerializationError):
        return None


class IdenticalReads:
    """A batch's reads, to find the earlier one a read may share.

    A read shares an earlier one with the same tool and arguments and no write between them.
    Reads are grouped by tool, keys and the writes they would see (`Scheduler.write_version`);
    only a read whose group already has one puts its arguments in canonical form, so reads of
    different records (most of them) never pay for it.
    """

    def __init__(self) -> None:
        self._groups: dict[tuple[Any, ...], Entry | dict[Hashable, Entry]] = {}

    def original_of(self, entry: Entry, tool: str, version: tuple[object, ...]) -> Entry | None:
        """The earlier read `entry` shares, or `None` (it is then one others may share)."""
        group_key = (tool, version)
        group = self._groups.get(group_key)
        if group is None:
            self._groups[group_key] = entry  # alone so far: nothing to compare it with
            entry.keeps_arguments = True
            return None
        if isinstance(group, Entry):
            first, group = group, {}
            if (first_normal := normal_arguments(first)) is not None:
                group[first_normal] = first
            first.keeps_arguments = False  # compared from now on by its canonical form
            self._groups[group_key] = group
        normal = normal_arguments(entry)
        if normal is None:
            return None
        original = group.get(normal)
        if original is None:
            group[normal] = entry
        return original
