"""`RayBackend` on a real two-node Ray cluster on loopback: where bodies run, model order across
workers, spreading over nodes, placement, a worker killed mid-call, timeouts and cancellation,
what cannot be pickled, and the ordering property the in-process executor is held to.

One cluster for the module (`_ray.ray_cluster`, ~6 s to start). Tool bodies run in Ray's
worker processes: they are self-contained (stdlib only) and talk to the test through files in
the cluster's scratch folder, since nodes here are processes on this machine.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from _hyp import examples
from _ray import RayCluster, ray_cluster, require_ray

ray = require_ray()

from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from volley import Agent, ErrorKind, Executor, ModelTurn, ToolCall, tool  # noqa: E402
from volley._errors import ConfigurationError, MissingExtra  # noqa: E402
from volley.providers import FunctionProvider, ModelRequest  # noqa: E402
from volley.ray import RayBackend, WorkerDied  # noqa: E402

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def cluster():
    with ray_cluster() as running:
        yield running


@pytest.fixture(scope="module")
def backend(cluster: RayCluster):
    """One backend for the module: its actors (one per async tool) are made once."""
    with RayBackend(cluster.address) as made:
        yield made


def run(tools: list[Any], calls: list[ToolCall], backend: Any, **options: Any) -> list[Any]:
    async def main() -> list[Any]:
        async with asyncio.timeout(30), Executor(tools, backend=backend, **options) as ex:
            return await ex.run(calls)

    return asyncio.run(main())


# -- tools: their bodies run in Ray's workers --------------------------------------------------


@tool(effects="read")
def where() -> dict[str, Any]:
    """The worker's process and node."""
    import ray as worker_ray

    return {"pid": os.getpid(), "node": worker_ray.get_runtime_context().get_node_id()}


@tool(effects="read")
async def where_async() -> dict[str, Any]:
    """The actor's process and node."""
    import ray as worker_ray

    return {"pid": os.getpid(), "node": worker_ray.get_runtime_context().get_node_id()}


@tool(effects="read")
def here() -> int:
    """Kept local: the driver's process."""
    return os.getpid()


def test_bodies_run_in_workers_and_local_tools_here(cluster: RayCluster) -> None:
    calls = [
        ToolCall("s", "where", {}),
        ToolCall("a", "where_async", {}),
        ToolCall("h", "here", {}),
    ]
    with RayBackend(cluster.address, local={"here"}) as backend:
        sync, async_, local = run([where, where_async, here], calls, backend)
    assert [sync.error_kind, async_.error_kind, local.error_kind] == [None] * 3
    assert sync.value["pid"] != os.getpid()
    assert async_.value["pid"] not in (os.getpid(), sync.value["pid"])  # the tool's own actor
    assert local.value == os.getpid()
    assert {sync.value["node"], async_.value["node"]} <= {cluster.head, cluster.second}


def test_an_agent_runs_its_tools_on_ray_and_leaves_the_backend_open(backend: Any) -> None:
    def respond(request: ModelRequest) -> ModelTurn:
        if len(request.messages) == 1:
            return ModelTurn(calls=(ToolCall("w", "where", {}),), stop="tool_calls")
        returned = request.messages[-1].results[0].value  # type: ignore[union-attr]
        return ModelTurn(text=str(returned["pid"]))

    agent = Agent(FunctionProvider(respond), [where], backend=backend)
    assert int(agent.run_sync("where?").output) != os.getpid()
    assert int(agent.run_sync("again").output) != os.getpid()  # the backend outlived the run


# -- model order across workers ------------------------------------------------------------------


@tool(writes=lambda a: [a["key"]])
def create(folder: str, key: str) -> str:
    """Create the record after a while (slower than the update would be)."""
    time.sleep(0.3)
    Path(folder, key).write_text(f"created by {os.getpid()}\n")
    return "created"


@tool(writes=lambda a: [a["key"]])
async def update(folder: str, key: str) -> str:
    """Update the record: it must exist."""
    path = Path(folder, key)
    if not path.exists():
        raise FileNotFoundError(f"{key} does not exist yet")
    path.write_text(path.read_text() + f"updated by {os.getpid()}\n")
    return "updated"


def test_create_then_update_keeps_model_order_across_workers(
    cluster: RayCluster, backend: Any
) -> None:
    folder = str(cluster.folder)
    calls = [
        ToolCall("c", "create", {"folder": folder, "key": "order"}),
        ToolCall("u", "update", {"folder": folder, "key": "order"}),
    ]
    results = run([create, update], calls, backend)
    assert [r.content for r in results] == ["created", "updated"], results
    created, updated = (cluster.folder / "order").read_text().split()[2::3]
    assert os.getpid() not in (int(created), int(updated))
    assert created != updated  # a task's worker, then the update tool's actor


# -- spreading and placement -------------------------------------------------------------------


@tool(writes=lambda a: [a["key"]])
def burn(key: str, seconds: float) -> str:
    """Keep a CPU busy for `seconds`; say on which node.

    Busy until a wall-clock deadline, not for an amount of work: on a loaded machine (two
    cores, shared) the work would stretch, but calls that truly run at once still end together.
    """
    import ray as worker_ray

    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        n += 1
    return worker_ray.get_runtime_context().get_node_id()


@tool(effects="read")
def meet(folder: str, key: str, count: int) -> str:
    """Wait (up to 20 s) until `count` calls of the same key run at once; say on which node."""
    import ray as worker_ray

    Path(folder, f"meet-{key}-{os.getpid()}").write_text("")
    end = time.monotonic() + 20
    while len(list(Path(folder).glob(f"meet-{key}-*"))) < count and time.monotonic() < end:
        time.sleep(0.01)
    return worker_ray.get_runtime_context().get_node_id()


def test_cpu_bound_calls_spread_over_both_nodes(cluster: RayCluster, backend: Any) -> None:
    def timed(keys: list[str], seconds: float) -> tuple[float, set[str]]:
        calls = [
            ToolCall(f"b{i}", "burn", {"key": k, "seconds": seconds}) for i, k in enumerate(keys)
        ]
        started = time.monotonic()
        results = run([burn], calls, backend)
        assert [r.error_kind for r in results] == [None] * len(keys), results
        return time.monotonic() - started, {r.value for r in results}

    # A worker ready on each node first: two calls that wait for each other run on both (one
    # CPU each), however long a worker takes to start.
    args = {"folder": str(cluster.folder), "key": "spread", "count": 2}
    calls = [ToolCall("m1", "meet", args), ToolCall("m2", "meet", args)]
    warmed = run([meet], calls, backend, dedupe=False)
    assert {r.value for r in warmed} == {cluster.head, cluster.second}, warmed
    one_by_one, _ = timed(["same"] * 4, 0.5)  # one key: each waits for the one before
    together, nodes = timed(["k1", "k2", "k3", "k4"], 0.5)
    print(f"4 x 0.5 s busy: {one_by_one:.2f} s one by one, {together:.2f} s on two nodes")
    assert nodes == {cluster.head, cluster.second}
    assert together / one_by_one < 0.8


def test_a_tools_resources_place_its_calls_on_the_node_that_has_them(
    cluster: RayCluster,
) -> None:
    placed = {
        "where": {"resources": {"second": 0.01}},
        "where_async": {"resources": {"second": 0.01}},
    }
    calls = [ToolCall(f"{name}{i}", name, {}) for i in range(4) for name in placed]
    with RayBackend(options=placed) as backend:  # attaches to this process's Ray
        results = run([where, where_async], calls, backend, dedupe=False)
    assert {r.value["node"] for r in results} == {cluster.second}, results


def test_options_that_would_let_ray_retry_or_that_ray_lacks_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="Ray never retries"):
        RayBackend(options={"where": {"max_retries": 3}})
    with pytest.raises(ConfigurationError, match="unknown Ray option 'num_cpu'"):
        RayBackend(options={"where": {"num_cpu": 1}})
    with pytest.raises(ConfigurationError, match="both"):
        RayBackend(options={"here": {"num_cpus": 1}}, local={"here"})
    with pytest.raises(ConfigurationError, match="collection of tool names"):
        RayBackend(local="here")


# -- a worker killed mid-call ----------------------------------------------------------------


@tool(writes=lambda a: [a["key"]])
def write_and_die(key: str) -> str:
    """A write whose worker is killed (SIGKILL) in the middle of it."""
    os.kill(os.getpid(), signal.SIGKILL)
    return "unreachable"


@tool(writes=lambda a: [a["key"]])
async def write_and_die_async(key: str) -> str:
    """An async write whose actor's process is killed in the middle of it."""
    await asyncio.sleep(0.1)
    os.kill(os.getpid(), signal.SIGKILL)
    return "unreachable"


@tool(effects="read", retries=1)
def read_once_dying(folder: str, name: str) -> str:
    """A read that kills its worker on its first attempt (noted in a file)."""
    mark = Path(folder, name)
    if not mark.exists():
        mark.write_text(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)
    return f"read after {mark.read_text()} died"


@tool(effects="read", retries=1)
async def read_once_dying_async(folder: str, name: str) -> str:
    """The same, in an actor: the second attempt gets a new actor."""
    mark = Path(folder, name)
    if not mark.exists():
        mark.write_text(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)
    return f"read after {mark.read_text()} died"


@tool(effects="read")
def read_dying(key: str) -> str:
    """A read with no retries whose worker dies."""
    os.kill(os.getpid(), signal.SIGKILL)
    return "unreachable"


def test_a_worker_killed_mid_write_is_an_unknown_outcome_and_its_siblings_are_answered(
    backend: Any,
) -> None:
    calls = [
        ToolCall("w", "write_and_die", {"key": "a"}),
        ToolCall("x", "write_and_die_async", {"key": "b"}),
        ToolCall("r", "read_dying", {"key": "c"}),
        ToolCall("s", "where", {}),
        ToolCall("t", "where_async", {}),
        ToolCall("after", "write_and_die", {"key": "a"}),  # waits for the first: conflicts
    ]
    # A hang would end in `run`'s 30 s guard, or in timeouts instead of unknown outcomes.
    results = run(
        [write_and_die, write_and_die_async, read_dying, where, where_async], calls, backend
    )
    w, x, r, s, t, after = results
    for lost in (w, x, after):
        assert lost.error_kind is ErrorKind.OUTCOME_UNKNOWN, lost
        assert "its Ray worker died while it ran" in lost.content
        assert "may or may not have taken effect" in lost.content
        assert lost.attempts == 1
    assert r.error_kind is ErrorKind.EXCEPTION, r
    assert isinstance(r.exception, WorkerDied)
    assert isinstance(r.exception, ConnectionError)
    assert [s.error_kind, t.error_kind] == [None, None], (s, t)


def test_a_killed_read_with_retries_is_run_again(cluster: RayCluster, backend: Any) -> None:
    folder = str(cluster.folder)
    calls = [
        ToolCall("s", "read_once_dying", {"folder": folder, "name": "sync-mark"}),
        ToolCall("a", "read_once_dying_async", {"folder": folder, "name": "async-mark"}),
    ]
    results = run([read_once_dying, read_once_dying_async], calls, backend)
    for result, mark in zip(results, ("sync-mark", "async-mark"), strict=True):
        assert not result.is_error, result
        assert result.attempts == 2
        assert result.content == f"read after {(cluster.folder / mark).read_text()} died"


# -- timeouts and cancellation --------------------------------------------------------------


@tool
def hang(folder: str, name: str, seconds: float = 30) -> str:
    """Note its pid, then run on (in small sleeps), then note that it finished."""
    Path(folder, name).write_text(str(os.getpid()))
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(0.02)
    Path(folder, name + ".finished").write_text("")
    return "finished"


@tool
async def hang_async(folder: str, name: str, seconds: float = 30) -> str:
    """Note that it started, then wait; note a cancellation (after a cleanup) if it comes."""
    Path(folder, name + ".started").write_text("")
    try:
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:
        await asyncio.sleep(0.3)  # cleanup that takes a while
        Path(folder, name + ".cancelled").write_text("")
        raise
    return "finished"


@tool(effects="write")
async def after_hang(folder: str, name: str) -> bool:
    """A write after everything before it: whether the cancelled body had ended when it began."""
    return Path(folder, name + ".cancelled").exists()


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _wait_for(check: Any, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def _warm(cluster: RayCluster, backend: Any) -> None:
    """A sync worker and the async tool's actor ready, so that the calls start at once.

    A call's timeout counts from when it is sent to Ray: a worker's start, or an actor's
    creation at the tool's first call, would take from it.
    """
    args = {"folder": str(cluster.folder), "name": "warm", "seconds": 0}
    calls = [
        ToolCall("s", "hang", args),
        ToolCall("a", "hang_async", args),
        ToolCall("b", "after_hang", {"folder": str(cluster.folder), "name": "warm"}),
    ]
    results = run([hang, hang_async, after_hang], calls, backend)
    assert [r.error_kind for r in results] == [None] * 3, results


def test_a_timeout_stops_the_ray_call(cluster: RayCluster, backend: Any) -> None:
    _warm(cluster, backend)
    folder = str(cluster.folder)
    calls = [
        ToolCall("s", "hang", {"folder": folder, "name": "timeout-sync"}),
        ToolCall("a", "hang_async", {"folder": folder, "name": "timeout-async"}),
        ToolCall("b", "after_hang", {"folder": folder, "name": "timeout-async"}),
    ]
    # Bodies left to run would reach their 30 s end (and `run`'s guard): the checks below.
    *results, after = run([hang, hang_async, after_hang], calls, backend, timeout=1.0)
    for result in results:
        assert result.error_kind is ErrorKind.TIMEOUT, result
        assert "was stopped" in result.content
    assert after.value is True, after  # the next write began once the cancelled body had ended
    pid = int((cluster.folder / "timeout-sync").read_text())
    assert _wait_for(lambda: _gone(pid)), "the sync body's worker was not killed"
    assert not (cluster.folder / "timeout-sync.finished").exists()
    assert (cluster.folder / "timeout-async.started").exists()
    assert (cluster.folder / "timeout-async.cancelled").exists()  # ended before its result


def test_cancelling_the_run_cancels_the_ray_calls(cluster: RayCluster, backend: Any) -> None:
    _warm(cluster, backend)
    folder = str(cluster.folder)
    calls = [
        ToolCall("s", "hang", {"folder": folder, "name": "cancel-sync"}),
        ToolCall("a", "hang_async", {"folder": folder, "name": "cancel-async"}),
    ]
    marks = [cluster.folder / "cancel-sync", cluster.folder / "cancel-async.started"]

    async def main() -> float:
        async with Executor([hang, hang_async], backend=backend) as ex:
            running = asyncio.ensure_future(ex.run(calls))
            while not all(mark.exists() for mark in marks):
                await asyncio.sleep(0.01)
            running.cancel()
            cancelled = time.monotonic()
            with pytest.raises(asyncio.CancelledError):
                await running
            return time.monotonic() - cancelled

    assert asyncio.run(asyncio.wait_for(main(), 20)) < 1
    pid = int(marks[0].read_text())
    assert _wait_for(lambda: _gone(pid)), "the sync body's worker was not killed"
    assert (cluster.folder / "cancel-async.cancelled").exists()  # ended before the run did


# -- what cannot be pickled --------------------------------------------------------------------


@tool
def take(x: Any) -> str:
    """Take anything."""
    return "taken"


@tool
async def take_async(x: Any) -> str:
    """Take anything."""
    return "taken"


@tool
def give_lock() -> Any:
    """Return what cannot be pickled."""
    return threading.Lock()


@tool
async def give_lock_async() -> Any:
    """Return what cannot be pickled."""
    return threading.Lock()


class Unpicklable(Exception):
    def __reduce__(self) -> Any:
        raise TypeError("not this one")


@tool
def raise_unpicklable() -> str:
    """Raise what cannot be pickled."""
    raise Unpicklable("kept as text")


def _refuse_to_load() -> None:
    raise ValueError("this result cannot be loaded")


class Unloadable:
    def __reduce__(self) -> Any:
        return (_refuse_to_load, ())


@tool
def give_unloadable() -> Any:
    """Return what pickles but cannot be unpickled."""
    return Unloadable()


class TwoArguments(Exception):
    def __init__(self, a: str, b: str) -> None:
        super().__init__(f"{a} and {b}")  # pickled with one argument: cannot be unpickled


@tool
async def raise_two_arguments() -> str:
    """Raise what pickles but cannot be unpickled."""
    raise TwoArguments("this", "that")


def test_what_cannot_be_pickled_is_a_clear_error_result(backend: Any) -> None:
    lock = threading.Lock()

    @tool
    def closes_over_lock() -> str:
        """A function that cannot be sent."""
        with lock:
            return "unreachable"

    calls = [
        ToolCall("a", "take", {"x": threading.Lock()}),
        ToolCall("b", "take_async", {"x": threading.Lock()}),
        ToolCall("c", "give_lock", {}),
        ToolCall("d", "give_lock_async", {}),
        ToolCall("e", "closes_over_lock", {}),
        ToolCall("f", "raise_unpicklable", {}),
        ToolCall("g", "take", {"x": [1, "two"]}),
        ToolCall("h", "raise_two_arguments", {}),
        ToolCall("i", "give_unloadable", {}),
    ]
    tools = [
        take,
        take_async,
        give_lock,
        give_lock_async,
        closes_over_lock,
        raise_unpicklable,
        raise_two_arguments,
        give_unloadable,
    ]
    a, b, c, d, e, f, g, h, i = run(tools, calls, backend)
    for result in (a, b):
        assert result.error_kind is ErrorKind.EXCEPTION, result
        assert "could not be sent to a Ray worker: its argument 'x' cannot be pickled" in (
            result.content
        )
        assert "lock" in result.content
        assert "It never ran." in result.content
    for result in (c, d):
        assert result.error_kind is ErrorKind.EXCEPTION, result
        assert "ran, but its result could not be sent back from its Ray worker" in result.content
        assert "lock" in result.content
    assert "its function cannot be pickled" in e.content, e
    assert f.is_error, f
    assert "Unpicklable: kept as text" in f.content
    assert g.content == "taken", g
    assert h.is_error, h
    assert "TwoArguments: this and that" in h.content
    assert i.error_kind is ErrorKind.EXCEPTION, i
    assert "ran, but its result could not be loaded in this process" in i.content
    assert "ValueError: this result cannot be loaded" in i.content


def test_a_tool_whose_module_the_workers_cannot_import_is_an_error_result(
    cluster: RayCluster, backend: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = cluster.folder / "only_here"
    package.mkdir()
    (package / "only_here_tools.py").write_text("def helper():\n    return 'here'\n")
    monkeypatch.syspath_prepend(str(package))  # this process only, not the workers
    import only_here_tools  # type: ignore[import-not-found]

    @tool
    def uses_helper() -> str:
        """Call a function from a module only this process has."""
        return only_here_tools.helper()  # type: ignore[no-any-return]

    @tool
    async def uses_helper_async() -> str:
        """The same, from an actor."""
        return only_here_tools.helper()  # type: ignore[no-any-return]

    calls = [ToolCall("u", "uses_helper", {}), ToolCall("a", "uses_helper_async", {})]
    for result in run([uses_helper, uses_helper_async], calls, backend):
        assert result.error_kind is ErrorKind.EXCEPTION, result
        assert "could not be loaded in its Ray worker" in result.content
        assert "No module named 'only_here_tools'" in result.content
        assert "It never ran." in result.content


# -- the backend's life ------------------------------------------------------------------------


def test_close_kills_its_actors_and_keeps_a_ray_it_did_not_start(cluster: RayCluster) -> None:
    backend = RayBackend(cluster.address)
    first = run([where_async], [ToolCall("a", "where_async", {})], backend)[0]
    backend.close()
    backend.close()  # twice is fine
    assert ray.is_initialized()
    assert _wait_for(lambda: _gone(first.value["pid"])), "its actor lives on"
    after = run([where_async], [ToolCall("b", "where_async", {})], backend)[0]
    assert after.is_error, after
    assert "closed" in after.content


def test_a_missing_ray_says_which_extra_brings_it(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m == "volley.ray" or m.startswith("volley.ray.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(MissingExtra, match=r"pip install 'volley-tools\[ray\]'"):
        import volley.ray  # noqa: F401


# -- the executor's ordering property, on Ray ------------------------------------------------

KEYS = ("a", "b", "c")


@tool(reads=lambda a: list(a["r"]), writes=lambda a: list(a["w"]))
async def keyed(tag: str, r: list[str], w: list[str], d: float) -> list[float]:
    """Sleep `d`; say when it started and ended (the machine's monotonic clock)."""
    start = time.monotonic()
    await asyncio.sleep(d)
    return [start, time.monotonic()]


@tool(reads=lambda a: list(a["r"]), writes=lambda a: list(a["w"]))
def keyed_sync(tag: str, r: list[str], w: list[str], d: float) -> list[float]:
    """The same, as a Ray task."""
    start = time.monotonic()
    time.sleep(d)
    return [start, time.monotonic()]


@st.composite
def keyed_batches(draw: Any) -> list[ToolCall]:
    calls = []
    for i in range(draw(st.integers(1, 7))):
        name = draw(st.sampled_from(["keyed", "keyed", "keyed_sync"]))
        args = {
            "tag": f"t{i}",
            "r": draw(st.lists(st.sampled_from(KEYS), max_size=2, unique=True)),
            "w": draw(st.lists(st.sampled_from(KEYS), max_size=1, unique=True)),
            "d": draw(st.sampled_from([0.0, 0.02, 0.05])),
        }
        calls.append(ToolCall(f"c{i}", name, args))
    return calls


def _conflict(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return bool(set(a["w"]) & set(b["r"] + b["w"]) or set(b["w"]) & set(a["r"] + a["w"]))


@given(keyed_batches())
@examples(10)
def test_every_call_one_result_in_order_and_conflicts_never_overlap(
    backend: Any, calls: list[ToolCall]
) -> None:
    results = run([keyed, keyed_sync], calls, backend)
    assert [r.call_id for r in results] == [c.id for c in calls]
    assert [r.error_kind for r in results] == [None] * len(calls), results
    spans = [r.value for r in results]
    for j, later in enumerate(calls):
        for i in range(j):
            if _conflict(calls[i].arguments, later.arguments):  # type: ignore[arg-type]
                assert spans[j][0] >= spans[i][1], (calls[i], later, spans[i], spans[j])


# -- last: this disconnects the process from the cluster, and connects it again -----------


def test_a_backend_that_connected_disconnects_when_closed(cluster: RayCluster) -> None:
    # Last in the module: disconnecting ends what this process's job owns (the module
    # backend's actors among them).
    ray.shutdown()  # this process is not connected: the backend connects it
    try:
        with RayBackend(cluster.address, init={"log_to_driver": False}) as backend:
            assert ray.is_initialized()
            (result,) = run([where], [ToolCall("w", "where", {})], backend)
            assert result.value["node"] in (cluster.head, cluster.second), result
        assert not ray.is_initialized()  # disconnected; the cluster itself runs on
        ray.init(address=cluster.address, log_to_driver=False)
        with pytest.raises(ConfigurationError, match="already connected to the Ray cluster"):
            RayBackend("127.0.0.1:1")
    finally:
        if not ray.is_initialized():
            ray.init(address=cluster.address, log_to_driver=False)
