"""Web forms for the registry. They validate shape; the services decide (idempotency, compatibility)."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from core.permissions import can
from rollouts.registry.models import (
    AdapterVersion,
    Environment,
    Feature,
    IndexVersion,
    ModelVersion,
    PromptVersion,
    Release,
)


class ModelVersionForm(forms.ModelForm):
    class Meta:
        model = ModelVersion
        fields = list(ModelVersion.CONTENT_FIELDS)

    def clean_decoding_params(self):
        value = self.cleaned_data["decoding_params"]
        if not isinstance(value, dict):
            raise ValidationError('A JSON object, e.g. {"temperature": 0.2}.')
        return value


class PromptVersionForm(forms.ModelForm):
    class Meta:
        model = PromptVersion
        fields = [*PromptVersion.CONTENT_FIELDS, "author", "message"]

    def clean_variables(self):
        value = self.cleaned_data["variables"]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValidationError('A JSON list of names, e.g. ["question", "context"].')
        return value


class AdapterVersionForm(forms.ModelForm):
    class Meta:
        model = AdapterVersion
        fields = list(AdapterVersion.CONTENT_FIELDS)


class IndexVersionForm(forms.ModelForm):
    class Meta:
        model = IndexVersion
        fields = list(IndexVersion.CONTENT_FIELDS)
        widgets = {"built_at": forms.DateTimeInput(attrs={"type": "datetime-local"})}


VERSION_FORMS = {
    "model": ModelVersionForm,
    "prompt": PromptVersionForm,
    "adapter": AdapterVersionForm,
    "index": IndexVersionForm,
}


class OverrideMixin:
    """Only approvers see the override-reason field; for everyone else violations are plain errors."""

    def _drop_override_unless_approver(self, user):
        if not can(user, "compatibility.override"):
            del self.fields["override_reason"]


class ReleaseForm(OverrideMixin, forms.Form):
    model = forms.ModelChoiceField(queryset=ModelVersion.objects.order_by("-created_at"))
    prompt = forms.ModelChoiceField(queryset=PromptVersion.objects.order_by("-created_at"))
    adapters = forms.ModelMultipleChoiceField(
        queryset=AdapterVersion.objects.order_by("name", "-created_at"),
        required=False,
        help_text="Applied in the order listed",
    )
    index = forms.ModelChoiceField(queryset=IndexVersion.objects.order_by("-created_at"), required=False)
    query_encoder = forms.CharField(required=False, help_text="Must equal the index's embedding model, e.g. bge@1.5")
    notes = forms.CharField(widget=forms.Textarea, required=False)
    override_reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
        help_text="Approvers: accept a compatibility violation anyway, with a written reason (audited)",
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self._drop_override_unless_approver(user)

    def clean_adapters(self):
        chosen = {a.pk: a for a in self.cleaned_data["adapters"]}
        order = [int(pk) for pk in self.data.getlist("adapters") if str(pk).isdigit()]
        return [chosen[pk] for pk in order if pk in chosen]


class DeploymentForm(OverrideMixin, forms.Form):
    environment = forms.ModelChoiceField(queryset=Environment.objects.none())
    release = forms.ModelChoiceField(queryset=Release.objects.none())
    live_at = forms.DateTimeField(
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text="UTC; empty means now",
    )
    is_rollback = forms.BooleanField(required=False, help_text="Older releases are marked as rollbacks anyway")
    notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    override_reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)

    def __init__(self, *args, feature: Feature, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["environment"].queryset = Environment.objects.filter(feature=feature).order_by(
            "-is_production", "name"
        )
        self.fields["environment"].label_from_instance = lambda env: env.name
        self.fields["release"].queryset = Release.objects.filter(feature=feature).order_by("-number")
        self.fields["release"].label_from_instance = lambda r: f"#{r.number}"
        self._drop_override_unless_approver(user)


def add_service_errors(form: forms.Form, exc: ValidationError) -> None:
    """Show a service's ValidationError on the form: on its field when the form has it, else at the top."""
    if hasattr(exc, "error_dict"):
        for name, errors in exc.message_dict.items():
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)
