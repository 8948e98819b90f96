"""What every test module shares: the hypothesis profile (see `_hyp`), and a simulator."""

from __future__ import annotations

from collections.abc import Iterator

import _hyp  # noqa: F401  (registers and loads the profile before any test is collected)
import pytest

from tests._sim import SCENARIO, sim_in_thread
from volley.sim import SimServer


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    """The simulator playing `_sim.SCENARIO` on loopback, in a thread: one per test module.

    A module's tests share it (what they change, `cut_streams` say, they undo by using it up),
    so that a property test does not start a server per example.
    """
    with sim_in_thread(SCENARIO, time_scale=0) as server:
        yield server
