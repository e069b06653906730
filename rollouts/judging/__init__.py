"""Observations gateways post, their per-minute rollups, the analysis windows of a run and the canary judge.
`judge.py` and `stats.py` are plain numpy/scipy statistics with no Django (an import contract holds them to it)."""
