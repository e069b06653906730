from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from core.forms import LimitedTextMixin
from core.models import User
from diagnostics.models import DiagnosisLayer
from incidents.models import (
    POSTMORTEM_TEXT_FIELDS,
    SEVERITY_DEFINITIONS,
    ActionKind,
    ActionStatus,
    Postmortem,
    Priority,
    Severity,
)
from rollouts.models import Environment

DATETIME_INPUT = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


def people():
    return User.objects.filter(is_active=True).order_by("username")


class IncidentForm(LimitedTextMixin, forms.Form):
    title = forms.CharField(max_length=200, widget=forms.TextInput(attrs={"size": 70}))
    severity = forms.ChoiceField(
        choices=Severity.choices,
        widget=forms.RadioSelect,
        help_text=" ".join(f"{Severity(k).label}: {v}" for k, v in SEVERITY_DEFINITIONS.items()),
    )
    summary = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    feature_environments = forms.ModelMultipleChoiceField(
        queryset=Environment.objects.select_related("feature").order_by("feature__slug", "-is_production", "name"),
        widget=forms.CheckboxSelectMultiple,
        label="Affected feature environments",
    )
    impact_started_at = forms.DateTimeField(required=False, widget=DATETIME_INPUT, help_text="Default: detection time")
    detected_at = forms.DateTimeField(required=False, widget=DATETIME_INPUT, help_text="Default: now")
    commander = forms.ModelChoiceField(queryset=people(), required=False)


class IncidentEditForm(LimitedTextMixin, forms.Form):
    title = forms.CharField(max_length=200, widget=forms.TextInput(attrs={"size": 50}))
    severity = forms.ChoiceField(choices=Severity.choices)
    commander = forms.ModelChoiceField(queryset=people(), required=False, empty_label="— none —")
    summary = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))


class NoteForm(LimitedTextMixin, forms.Form):
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 2, "placeholder": "What did you find or do?"}))


class ActionItemForm(LimitedTextMixin, forms.Form):
    title = forms.CharField(
        max_length=200,
        widget=forms.TextInput(attrs={"size": 40, "placeholder": "e.g. add the failing case to the eval set"}),
    )
    layer = forms.ChoiceField(choices=DiagnosisLayer.choices)
    owner = forms.ModelChoiceField(queryset=people(), help_text="Exactly one person", empty_label="— one person —")
    due_date = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    priority = forms.ChoiceField(choices=Priority.choices, initial=Priority.P2)
    kind = forms.ChoiceField(choices=ActionKind.choices, initial=ActionKind.CORRECTIVE, label="Type")
    tracker_url = forms.URLField(required=False, label="Tracker link", assume_scheme="https")
    backdate_reason = forms.CharField(
        required=False, max_length=500, label="Why in the past?", help_text="Only for a due date before today"
    )


class ActionItemCreateForm(ActionItemForm):
    confirm_duplicate = forms.BooleanField(required=False, label="Add it anyway")


class ActionItemEditForm(LimitedTextMixin, forms.Form):
    """Edit in place: the fields people change after the meeting (owner, due date with a reason, status)."""

    title = forms.CharField(max_length=200, widget=forms.TextInput(attrs={"size": 30}))
    owner = forms.ModelChoiceField(queryset=people(), empty_label=None)
    due_date = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    reason = forms.CharField(
        required=False,
        label="Why the date moves",
        widget=forms.TextInput(attrs={"size": 24, "placeholder": "needed when the due date changes"}),
    )
    priority = forms.ChoiceField(choices=Priority.choices)
    status = forms.ChoiceField(choices=ActionStatus.choices)
    wont_do_reason = forms.CharField(
        required=False, label="Why not", widget=forms.TextInput(attrs={"size": 24, "placeholder": "for won't do"})
    )


class ActionStatusForm(LimitedTextMixin, forms.Form):
    status = forms.ChoiceField(choices=ActionStatus.choices)
    wont_do_reason = forms.CharField(required=False)


class PostmortemForm(LimitedTextMixin, forms.ModelForm):
    class Meta:
        model = Postmortem
        fields = list(POSTMORTEM_TEXT_FIELDS)
        widgets = {name: forms.Textarea(attrs={"rows": 4}) for name in POSTMORTEM_TEXT_FIELDS}


def error_text(exc: ValidationError) -> str:
    """A service's messages as one line (for a flash message)."""
    if hasattr(exc, "error_dict"):
        return " ".join(m for msgs in exc.message_dict.values() for m in msgs)
    return " ".join(exc.messages)


def form_errors(form, exc: ValidationError) -> None:
    """Put a service's messages on the fields they name, keeping their codes (e.g. "duplicate")."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc)
