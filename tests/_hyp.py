"""How hard the property tests try: quick by default, the full counts under the `ci` profile.

`VOLLEY_HYPOTHESIS=ci` (what `.ci/run` sets) runs every property with the number of examples its
test names; without it each runs a fifth of them (at least ten), so `make test` stays quick while
working. Examples are derandomized under `ci`: a red build is a build anyone can reproduce.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

PROFILE = os.environ.get("VOLLEY_HYPOTHESIS", "quick")
FULL = PROFILE == "ci"
_LENIENT = [
    HealthCheck.too_slow,
    HealthCheck.data_too_large,
    HealthCheck.function_scoped_fixture,
]

settings.register_profile("quick", deadline=None, suppress_health_check=_LENIENT)
settings.register_profile(
    "ci", deadline=None, suppress_health_check=_LENIENT, derandomize=True, print_blob=True
)
settings.load_profile("ci" if FULL else "quick")


def examples(n: int) -> settings:
    """`n` examples under the `ci` profile, a fifth of them (at least ten) otherwise."""
    return settings(max_examples=n if FULL else max(10, n // 5))
