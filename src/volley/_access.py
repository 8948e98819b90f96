"""What a call holds while it runs: resource keys, shared or exclusive."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["NO_ACCESS", "ROOT", "UNDECLARED", "Access", "conflicts"]

ROOT = "*"
"""The resource that covers every other key."""


@dataclass(frozen=True, slots=True)
class Access:
    """The resources one call holds while it runs."""

    reads: frozenset[str] = frozenset()
    """Keys held in shared mode."""
    writes: frozenset[str] = frozenset()
    """Keys held exclusively."""
    undeclared: bool = False
    """The tool did not say what it touches: it holds no key, so it overlaps with every call
    that declares keys, but a write barrier (`*` held exclusively) excludes it, as it excludes
    everything. In locking terms it holds `*` with intent only."""

    @property
    def is_empty(self) -> bool:
        """Whether the call holds nothing and so conflicts with nothing."""
        return not self.reads and not self.writes and not self.undeclared


NO_ACCESS = Access()
"""Holds nothing: a call that will never run (an unknown tool), or a shared result."""

UNDECLARED = Access(undeclared=True)
"""What a call of a tool that declares nothing holds."""


def conflicts(a: Access, b: Access) -> bool:
    """Whether two calls holding `a` and `b` may not run at the same time.

    The scheduler never compares calls pairwise (it keeps per-key state); this is for the few
    calls that outlive their batch's bookkeeping, such as a sync call whose thread runs on.
    """
    if a.is_empty or b.is_empty:
        return False
    if ROOT in a.writes or ROOT in b.writes:
        return True  # a barrier excludes everything, undeclared calls included
    if a.undeclared or b.undeclared:
        return False
    return _touches(a.writes, b.reads | b.writes) or _touches(b.writes, a.reads | a.writes)


def _touches(xs: frozenset[str], ys: frozenset[str]) -> bool:
    return bool(xs & ys) or (ROOT in xs and bool(ys)) or (ROOT in ys and bool(xs))
