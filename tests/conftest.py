"""What every test module shares: the hypothesis profile (see `_hyp`)."""

from __future__ import annotations

import _hyp  # noqa: F401  (registers and loads the profile before any test is collected)
