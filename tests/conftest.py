"""What every test module shares: the hypothesis profile (see `_hyp`), a simulator, no keys."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import _hyp  # noqa: F401  (registers and loads the profile before any test is collected)
import pytest
from _credentials import CREDENTIALS

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


@pytest.fixture
def no_keys(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No SDK finds a credential: no variable, no profile on disk, no Google default login."""
    for name in CREDENTIALS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.config/anthropic profile, no gcloud login
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "absent.json"))
    return monkeypatch
