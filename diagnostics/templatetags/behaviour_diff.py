from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def get_item(mapping, key):
    return mapping.get(key) if isinstance(mapping, dict) else None


@register.filter
def verdict_label(verdict: str) -> str:
    return (verdict or "").replace("_", " ")
