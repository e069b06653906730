"""Form plumbing shared by the web pages."""

from __future__ import annotations

from django import forms
from django.core.validators import MaxLengthValidator

from core.limits import max_text_chars


class LimitedTextMixin:
    """Every text field without a limit of its own gets REWIND_MAX_TEXT_CHARS (NUL is refused by Django's
    CharField already), so a pasted log cannot become a 25,000-pixel page."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        cap = max_text_chars()
        for field in self.fields.values():
            if isinstance(field, forms.CharField) and field.max_length is None:
                field.max_length = cap
                field.validators.append(MaxLengthValidator(cap))
                field.widget.attrs.setdefault("maxlength", str(cap))
