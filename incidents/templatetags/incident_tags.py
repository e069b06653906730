from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def get_item(mapping: dict, key):
    """`{{ diagnosis_ids|get_item:layer }}`: dictionary lookup by a variable key."""
    return (mapping or {}).get(key)
