"""Behaviour diff: what changed in the answers between two releases.

Pure analysis (pandas/numpy/scipy, no Django): ``metrics`` measures each output, ``engine`` compares the two
sides with paired statistics and returns a JSON-serialisable report. The Django side stores inputs and reports.
"""

from diagnostics.behaviour.engine import AnalysisOptions, analyse, analyse_source
from diagnostics.behaviour.export import report_csv, report_markdown
from diagnostics.behaviour.metrics import EmbeddingBackend, output_metrics, similarity
from diagnostics.behaviour.refusal import REFUSAL_RULES, detect

__all__ = [
    "REFUSAL_RULES",
    "AnalysisOptions",
    "EmbeddingBackend",
    "analyse",
    "analyse_source",
    "detect",
    "output_metrics",
    "report_csv",
    "report_markdown",
    "similarity",
]
