"""The precedence graph of one batch: which calls may start now.

Pure logic, no I/O and no clock, so that it is tested directly. The batch registers calls in the
order they are to be serialized (the order the model wrote them, dependencies first), reports each
call's end, and asks what may start.

Resources follow multi-granularity locking: `*` is the root of every key, so holding `*` covers
all keys. Per key we keep the last writer and the readers since it: a new reader waits for the
last writer, a new writer waits for both. No pairwise comparison of calls. A call that declares
nothing holds `*` with intent only: it overlaps with every declared key and with its likes, and
waits for (and is waited for by) a write of `*`, the barrier.
"""

from __future__ import annotations

from collections.abc import Iterable

from ._access import NO_ACCESS, ROOT, Access

__all__ = ["Scheduler"]


class _Node:
    """The edges of a node; a node with none (most of them) has no `_Node` until it needs one."""

    __slots__ = ("dependencies", "failed_dependency", "predecessors", "successors", "waiting")

    def __init__(self, predecessors: tuple[int, ...], dependencies: frozenset[int]) -> None:
        self.predecessors = predecessors
        self.dependencies = dependencies
        self.waiting = 0
        self.successors: list[int] | None = None  # made on first use
        self.failed_dependency: int | None = None


_RUNNING, _OK, _FAILED = 0, 1, 2


_NO_DEPENDENCIES: frozenset[int] = frozenset()


class Scheduler:
    """The precedence graph of one batch.

    Nodes are numbered 0, 1, 2, ... in registration order; that order is the serialization order
    for conflicts. A node must wait for an earlier node when it depends on it (`after`) or when
    both touch a common resource and at least one writes it.
    """

    def __init__(self) -> None:
        self._nodes: list[_Node | None] = []
        self._state = bytearray()  # per node: _RUNNING (or waiting), _OK or _FAILED
        self._ready: list[int] = []
        # Since the last write of ROOT: the last writer of each key, and the readers since it.
        self._root_writer: int | None = None
        self._root_readers: list[int] = []
        self._since_root_write: list[int] = []
        self._key_writer: dict[str, int] = {}
        self._key_readers: dict[str, int | list[int]] = {}
        """The readers of a key since its last writer: a lone reader (most keys) without a list."""
        self._writes = 0

    def __len__(self) -> int:
        return len(self._nodes)

    def add(self, *, after: Iterable[int] = (), access: Access = NO_ACCESS) -> int:
        """Register the next node and return its number.

        Args:
            after: nodes this one depends on (data dependencies); all must be registered already.
            access: the resources it holds while it runs.
        """
        number = len(self._nodes)
        dependencies = frozenset(after) if after else _NO_DEPENDENCIES
        for dep in dependencies:
            if not 0 <= dep < number:
                raise ValueError(f"node {number} depends on unregistered node {dep}")
        conflicts = self._conflicts(number, access)
        if not dependencies and not conflicts:  # waits for nothing: no edges (yet)
            self._nodes.append(None)
            self._state.append(_RUNNING)
            self._ready.append(number)
            return number
        predecessors = tuple(sorted(dependencies | conflicts))
        node = _Node(predecessors=predecessors, dependencies=dependencies)
        self._nodes.append(node)
        self._state.append(_RUNNING)
        for pred in predecessors:
            state = self._state[pred]
            if state != _RUNNING:
                if state == _FAILED and pred in dependencies and node.failed_dependency is None:
                    node.failed_dependency = pred
                continue
            before = self._nodes[pred]
            if before is None:
                before = self._nodes[pred] = _Node((), _NO_DEPENDENCIES)
            if before.successors is None:
                before.successors = [number]
            else:
                before.successors.append(number)
            node.waiting += 1
        if node.waiting == 0:
            self._ready.append(number)
        return number

    def add_free(self, undeclared: bool = False) -> int:
        """Register a node that depends on nothing and may start at once; return its number.

        It holds nothing, or (`undeclared`) `*` with intent only, which may start unless the last
        write of `*` (a barrier) is running: then nothing is registered and the answer is -1
        (register it with `add`). Unlike `add`, the node is not returned by `ready()`: the caller
        starts it.
        """
        number = len(self._nodes)
        if undeclared:
            writer = self._root_writer
            if writer is None:
                self._nodes.append(None)
            elif self._state[writer] == _RUNNING:
                return -1
            else:  # ended, but it came first: an edge, for figures
                self._nodes.append(_Node((writer,), _NO_DEPENDENCIES))
            self._since_root_write.append(number)
        else:
            self._nodes.append(None)
        self._state.append(_RUNNING)
        return number

    def _conflicts(self, number: int, access: Access) -> set[int]:
        """Find the earlier nodes `number` conflicts with, and record its access."""
        if access.is_empty:
            return set()
        waits: set[int] = set()
        if self._root_writer is not None:
            waits.add(self._root_writer)
        if access.undeclared:
            self._since_root_write.append(number)
            return waits
        if ROOT in access.writes:
            waits.update(self._since_root_write)
            self._root_writer = number
            self._root_readers = []
            self._since_root_write = []
            self._key_writer.clear()
            self._key_readers.clear()
            self._writes += 1
            return waits
        self._since_root_write.append(number)
        writes = access.writes
        for key in access.reads:
            if key == ROOT:
                waits.update(self._key_writer.values())
                self._root_readers.append(number)
            elif key not in writes:
                if (writer := self._key_writer.get(key)) is not None:
                    waits.add(writer)
                readers = self._key_readers.get(key)
                if readers is None:
                    self._key_readers[key] = number
                elif isinstance(readers, int):
                    self._key_readers[key] = [readers, number]
                else:
                    readers.append(number)
        for key in writes:
            waits.update(self._root_readers)
            if (writer := self._key_writer.get(key)) is not None:
                waits.add(writer)
            readers = self._key_readers.pop(key, None)
            if isinstance(readers, int):
                waits.add(readers)
            elif readers is not None:
                waits.update(readers)
            self._key_writer[key] = number
            self._writes += 1
        waits.discard(number)
        return waits

    def write_version(self, access: Access) -> tuple[object, ...]:
        """The keys `access` reads, and what changes whenever a write they would see is added.

        Two identical reads with the same version read the same keys and observe the same
        state, so one may share the other's result. Only strings, numbers and `None`: a table
        of versions is nothing the garbage collector has to walk.
        """
        reads = access.reads
        if ROOT in reads:
            return (self._writes, *sorted(reads))
        if len(reads) == 1:  # most reads: one key
            for key in reads:
                return (self._root_writer, key, self._key_writer.get(key))
        version: list[object] = [self._root_writer]
        for key in sorted(reads):
            version += (key, self._key_writer.get(key))
        return tuple(version)

    def finish(self, number: int, ok: bool) -> bool:
        """Record that a node has ended; `ok=False` fails the nodes that depend on it.

        Returns whether a node waited for it (`ready()` may then have nodes to give).
        """
        if self._state[number] != _RUNNING:
            raise ValueError(f"node {number} has already finished")
        self._state[number] = _OK if ok else _FAILED
        node = self._nodes[number]
        if node is None or node.successors is None:
            return False
        successors, node.successors = node.successors, None
        for succ in successors:
            after = self._nodes[succ]
            assert after is not None  # a node with a predecessor always has its edges
            if not ok and number in after.dependencies and after.failed_dependency is None:
                after.failed_dependency = number
            after.waiting -= 1
            if after.waiting == 0:
                self._ready.append(succ)
        return True

    def ready(self) -> list[int]:
        """Nodes whose predecessors have all ended, each returned once, in registration order."""
        if not self._ready:
            return []
        ready, self._ready = self._ready, []
        ready.sort()
        return ready

    def failed_dependency(self, number: int) -> int | None:
        """The first dependency of `number` that ended without success, if any."""
        node = self._nodes[number]
        return node.failed_dependency if node is not None else None

    def predecessors(self, number: int) -> tuple[int, ...]:
        """Every node `number` had to wait for (dependencies and conflicts), ended or not."""
        node = self._nodes[number]
        return node.predecessors if node is not None else ()

    def is_done(self, number: int) -> bool:
        """Whether `number` has finished."""
        return self._state[number] != _RUNNING
