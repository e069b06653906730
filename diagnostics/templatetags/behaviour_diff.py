from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def get_item(mapping, key):
    return mapping.get(key) if isinstance(mapping, dict) else None


@register.filter
def verdict_label(verdict: str) -> str:
    return (verdict or "").replace("_", " ")


@register.filter
def metric_level(metric: dict, key: str) -> str:
    """One side's level of a metric: a rate in percent, else the mean."""
    value = (metric or {}).get(key)
    if value is None:
        return "-"
    return f"{value * 100:.1f} %" if metric.get("kind") == "binary" else f"{value:.4g}"


@register.filter
def metric_change(metric: dict, value) -> str:
    """A change of a metric: percentage points for rates (0.25 % → 0.99 % is +0.7 pp, not +300 %)."""
    if value is None:
        return "-"
    return f"{value * 100:+.1f} pp" if (metric or {}).get("kind") == "binary" else f"{value:+.4g}"


@register.filter
def percent_change(value) -> str:
    return "" if value is None else f"{value * 100:+.1f} %"
