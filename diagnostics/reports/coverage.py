"""Does a prompt set look like production? Compare its segment mix with production traffic counts.

Pure: two {segment value: count} dicts in, a chi-square goodness-of-fit test and per-segment ratios out.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from django.core.exceptions import ValidationError
from scipy import stats

UNDER = 0.5  # a segment with less than half its production share is under-represented
OVER = 2.0  # more than twice its production share is over-represented


@dataclass
class SegmentCoverage:
    value: str
    set_count: int
    set_share: float
    production_count: int
    production_share: float
    ratio: float | None  # set share / production share; None when production never saw the segment
    status: str  # ok | under | over | missing (in production, absent from the set) | unseen (not in production)


def coverage_compare(
    set_counts: dict[str, int], production_counts: dict[str, int], *, under: float = UNDER, over: float = OVER
) -> dict:
    set_total = sum(set_counts.values())
    prod_total = sum(production_counts.values())
    if set_total <= 0 or prod_total <= 0:
        return {
            "chi2": None,
            "p_value": None,
            "segments": [],
            "warnings": ["No cases in the set." if set_total <= 0 else "No production traffic to compare with."],
        }
    rows: list[SegmentCoverage] = []
    warnings: list[str] = []
    for value in sorted(set(set_counts) | set(production_counts), key=lambda v: -production_counts.get(v, 0)):
        n_set, n_prod = set_counts.get(value, 0), production_counts.get(value, 0)
        set_share, prod_share = n_set / set_total, n_prod / prod_total
        ratio = set_share / prod_share if prod_share else None
        if n_prod == 0:
            status = "unseen"
            warnings.append(f"{value!r}: {n_set} cases in the set but never seen in production.")
        elif n_set == 0:
            status = "missing"
            warnings.append(f"{value!r}: {prod_share:.1%} of production traffic but no case in the set.")
        elif ratio < under:
            status = "under"
            warnings.append(
                f"{value!r} is under-represented: {set_share:.1%} of the set vs {prod_share:.1%} in production."
            )
        elif ratio > over:
            status = "over"
            warnings.append(
                f"{value!r} is over-represented: {set_share:.1%} of the set vs {prod_share:.1%} in production."
            )
        else:
            status = "ok"
        rows.append(SegmentCoverage(value, n_set, set_share, n_prod, prod_share, ratio, status))
    # Chi-square over segments production has seen: expected counts are production shares scaled to the set.
    seen = [r for r in rows if r.production_count > 0]
    observed = [r.set_count for r in seen]
    in_seen = sum(observed)
    chi2 = p_value = None
    if len(seen) >= 2 and in_seen > 0:
        expected = [r.production_share * in_seen / sum(x.production_share for x in seen) for r in seen]
        result = stats.chisquare(observed, expected)
        chi2, p_value = float(result.statistic), float(result.pvalue)
    return {"chi2": chi2, "p_value": p_value, "segments": [asdict(r) for r in rows], "warnings": warnings}


def parse_counts(text: str) -> dict[str, int]:
    """Pasted production counts, one 'value,count' (or 'value<TAB>count') per line."""
    counts: dict[str, int] = {}
    errors: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        sep = "\t" if "\t" in line else ","
        value, _, count = line.rpartition(sep)
        try:
            n = int(count.strip())
            if n < 0 or not value.strip():
                raise ValueError
        except ValueError:
            errors.append(f"Line {number}: expected 'segment value,count', got {line.strip()!r}.")
            continue
        counts[value.strip()] = counts.get(value.strip(), 0) + n
    if errors:
        raise ValidationError({"production_counts": errors})
    return counts
