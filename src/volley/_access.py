"""What a call holds while it runs: resource keys, shared or exclusive."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["NO_ACCESS", "ROOT", "Access"]

ROOT = "*"
"""The resource that covers every other key."""


@dataclass(frozen=True, slots=True)
class Access:
    """The resources one call holds while it runs."""

    reads: frozenset[str] = frozenset()
    """Keys held in shared mode."""
    writes: frozenset[str] = frozenset()
    """Keys held exclusively."""

    @property
    def is_empty(self) -> bool:
        """Whether the call holds nothing and so conflicts with nothing."""
        return not self.reads and not self.writes


NO_ACCESS = Access()
