from __future__ import annotations

from django import forms

from incidents.models import AlertRouteAction, AlertSourceKind, Severity
from rollouts.models import Environment, Feature
from rollouts.runs.change_events.models import ChangeEventFormat


class EnvironmentChoice(forms.ModelChoiceField):
    def __init__(self, **kwargs):
        super().__init__(
            queryset=Environment.objects.select_related("feature").order_by("feature__slug", "name"), **kwargs
        )

    def label_from_instance(self, obj) -> str:
        return f"{obj.feature.slug} / {obj.name}"


class SourceForm(forms.Form):
    slug = forms.SlugField(max_length=60, help_text="Part of the hook URL: /hooks/<kind>/<slug>")
    name = forms.CharField(max_length=120, required=False)
    kind = forms.ChoiceField(choices=AlertSourceKind.choices)
    secret = forms.CharField(
        required=False,
        max_length=200,
        help_text="PagerDuty: the subscription's signing secret. Others: leave blank to generate one.",
    )
    environment = EnvironmentChoice(required=False, help_text="Where alerts go when no routing rule matches")
    severity = forms.ChoiceField(choices=Severity.choices, initial=Severity.SEV3)
    field_mapping = forms.JSONField(
        required=False,
        initial=dict,
        help_text='Generic only, e.g. {"fingerprint": "id", "status": "state", "title": "title", "labels": "tags"}',
    )

    def clean_field_mapping(self):
        return self.cleaned_data.get("field_mapping") or {}


class RouteForm(forms.Form):
    matchers = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        help_text="One label=value per line; all must match. Empty matches every alert.",
    )
    environment = EnvironmentChoice()
    severity = forms.ChoiceField(choices=[("", "The source's"), *Severity.choices], required=False)
    action = forms.ChoiceField(choices=AlertRouteAction.choices, initial=AlertRouteAction.ATTACH)

    def clean_matchers(self) -> dict:
        matchers = {}
        for number, line in enumerate(self.cleaned_data["matchers"].splitlines(), start=1):
            line = line.strip()
            if not line:
                continue
            name, sep, value = line.partition("=")
            if not sep or not name.strip():
                raise forms.ValidationError(f"Line {number} is not label=value: {line[:60]}")
            matchers[name.strip()] = value.strip()
        return matchers


class SecretForm(forms.Form):
    secret = forms.CharField(required=False, max_length=200, help_text="Leave blank to generate one (not PagerDuty)")


class TargetForm(forms.Form):
    name = forms.CharField(max_length=120)
    url = forms.URLField(max_length=500, assume_scheme="https")
    format = forms.ChoiceField(choices=ChangeEventFormat.choices)
    secret = forms.CharField(required=False, max_length=200, help_text="Leave blank to generate one")
    routing_key = forms.CharField(required=False, max_length=200, help_text="PagerDuty: the integration key")
    feature = forms.ModelChoiceField(
        queryset=Feature.objects.order_by("slug"), required=False, to_field_name="slug", help_text="Blank: all"
    )
