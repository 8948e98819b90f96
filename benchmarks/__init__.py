"""`python -m benchmarks`: every benchmark of `volley.bench` (`volley bench` runs a selection)."""
