"""Tool bodies on a Ray cluster: `RayBackend`, given to an `Executor` or an `Agent`.

The executor still decides when each call starts (model order where calls conflict); Ray
decides where its body runs. Needs the `ray` extra: `pip install 'volley-tools[ray]'`.
"""

from __future__ import annotations

from .._errors import MissingExtra

try:
    import ray  # noqa: F401
except ImportError as exc:  # pragma: no cover - the extra is installed for the tests
    raise MissingExtra("ray is not installed: pip install 'volley-tools[ray]'") from exc

from ._backend import RayBackend
from ._faults import WorkerDied
from ._pool import AgentPool, PoolEvent, PoolProgress, RunLost

__all__ = ["AgentPool", "PoolEvent", "PoolProgress", "RayBackend", "RunLost", "WorkerDied"]
