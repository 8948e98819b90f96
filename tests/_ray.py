"""A real two-node Ray cluster on this machine for one test module, and what its tests share.

Both nodes are processes on this machine, at its own address (traffic stays on the host). The
head has one CPU; the second node one CPU and the custom resource `second`. Ray's files (its
auth token under `~/.ray`, its session dir with the sockets) go to a folder of the test's own
(`HOME`, `TMPDIR`, `RAY_TMPDIR`), short, since a Unix socket's path must fit in 107 bytes; usage
stats are off. The cluster's processes are stopped by `Cluster.shutdown` (never `ray stop`,
which kills every Ray process on the machine by name). The nodes' workers can import the test
modules (`PYTHONPATH`), as a real cluster's workers must import the tools' modules.

Without ray installed the module skips, unless `VOLLEY_REQUIRE_RAY=1` (what `.ci/run` sets):
then it fails.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

__all__ = ["RayCluster", "ray_cluster", "require_ray"]

TESTS = Path(__file__).resolve().parent


def require_ray() -> ModuleType:
    """The `ray` module; skips the calling module without it (fails under VOLLEY_REQUIRE_RAY=1)."""
    try:
        import ray
    except ImportError:
        if os.environ.get("VOLLEY_REQUIRE_RAY") == "1":
            pytest.fail("VOLLEY_REQUIRE_RAY=1, but ray is not installed", pytrace=False)
        pytest.skip(
            "ray is not installed (pip install 'volley-tools[ray]')", allow_module_level=True
        )
    return ray


@dataclass(frozen=True)
class RayCluster:
    address: str
    head: str
    """The head node's id (one CPU)."""
    second: str
    """The second node's id (one CPU and the resource `second`)."""
    folder: Path
    """A scratch folder the tests and the workers share (same machine)."""


@contextmanager
def ray_cluster() -> Iterator[RayCluster]:
    """Start the cluster and connect this process to it; shut both down afterwards."""
    import ray
    from ray.cluster_utils import Cluster

    root = Path(tempfile.mkdtemp(prefix="volley-ray-"))
    scratch = root / "scratch"
    scratch.mkdir()
    started = time.monotonic()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("HOME", str(root))
        env.setenv("TMPDIR", str(root))
        env.setenv("RAY_TMPDIR", str(root))
        env.setenv("RAY_USAGE_STATS_ENABLED", "0")
        path = [str(TESTS), str(TESTS.parent), os.environ.get("PYTHONPATH", "")]
        env.setenv("PYTHONPATH", os.pathsep.join(p for p in path if p))
        cluster = Cluster(
            initialize_head=True,
            head_node_args={"num_cpus": 1, "include_dashboard": False},
        )
        try:
            second = cluster.add_node(num_cpus=1, resources={"second": 1})
            cluster.wait_for_nodes()
            ray.init(address=cluster.address, log_to_driver=False)
            print(f"ray cluster up in {time.monotonic() - started:.1f} s")
            yield RayCluster(
                address=cluster.address,
                head=cluster.head_node.node_id,
                second=second.node_id,
                folder=scratch,
            )
        finally:
            ray.shutdown()
            cluster.shutdown()
            shutil.rmtree(root, ignore_errors=True)
