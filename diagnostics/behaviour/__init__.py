"""Behaviour diff: what changed in the answers between two releases.

Pure analysis (pandas/numpy/scipy, no Django): ``metrics`` measures each output, ``engine`` compares the two
sides with paired statistics and returns a JSON-serialisable report. The Django side stores inputs and reports.
"""

from diagnostics.behaviour.engine import AnalysisOptions, analyse
from diagnostics.behaviour.export import report_csv, report_markdown
from diagnostics.behaviour.metrics import DEFAULT_REFUSAL_PATTERNS, EmbeddingBackend, output_metrics, similarity

__all__ = [
    "DEFAULT_REFUSAL_PATTERNS",
    "AnalysisOptions",
    "EmbeddingBackend",
    "analyse",
    "output_metrics",
    "report_csv",
    "report_markdown",
    "similarity",
]
