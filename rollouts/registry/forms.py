"""Web forms for the registry. They validate shape; the services decide (idempotency, compatibility)."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from core.display import version_label
from core.forms import LimitedTextMixin
from core.permissions import can
from rollouts.registry.models import (
    AdapterVersion,
    Environment,
    Feature,
    IndexVersion,
    ModelVersion,
    Precision,
    PromptVersion,
    Release,
)


class ModelVersionForm(LimitedTextMixin, forms.ModelForm):
    class Meta:
        model = ModelVersion
        fields = list(ModelVersion.CONTENT_FIELDS)

    def clean_decoding_params(self):
        value = self.cleaned_data["decoding_params"]
        if not isinstance(value, dict):
            raise ValidationError('A JSON object, e.g. {"temperature": 0.2}.')
        return value


class PromptVersionForm(LimitedTextMixin, forms.ModelForm):
    class Meta:
        model = PromptVersion
        fields = [*PromptVersion.CONTENT_FIELDS, "author", "message"]

    def clean_variables(self):
        value = self.cleaned_data["variables"]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValidationError('A JSON list of names, e.g. ["question", "context"].')
        return value


class AdapterVersionForm(LimitedTextMixin, forms.ModelForm):
    class Meta:
        model = AdapterVersion
        fields = list(AdapterVersion.CONTENT_FIELDS)


class IndexVersionForm(LimitedTextMixin, forms.ModelForm):
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


def model_label(version: ModelVersion) -> str:
    """Tells two model versions apart in a list: alias → snapshot, precision by name, decoding, short hash."""
    precision = (
        "precision managed by the provider"
        if version.precision == Precision.UNKNOWN
        else f"{version.get_precision_display()}{' ' + version.quantization if version.quantization else ''}"
    )
    decoding = ", ".join(f"{k}={v}" for k, v in sorted((version.decoding_params or {}).items()))
    parts = [f"{version.provider}: {version.requested_alias} → {version.resolved_snapshot}", precision]
    if decoding:
        parts.append(decoding)
    return " · ".join(parts) + f" · {version.content_hash[:7]}"


def prompts_by_name_and_version():
    """Prompt versions newest first, each numbered within its name (v1 is the first 'support' prompt)."""
    prompts = list(PromptVersion.objects.order_by("name", "created_at", "id"))
    seen: dict[str, int] = {}
    for prompt in prompts:
        seen[prompt.name] = seen.get(prompt.name, 0) + 1
        prompt.version_number = seen[prompt.name]
    return {p.pk: p for p in prompts}


class ReleaseForm(LimitedTextMixin, OverrideMixin, forms.Form):
    model = forms.ModelChoiceField(queryset=ModelVersion.objects.order_by("-created_at"))
    prompt = forms.ModelChoiceField(queryset=PromptVersion.objects.order_by("name", "-created_at"))
    adapters = forms.ModelMultipleChoiceField(
        queryset=AdapterVersion.objects.order_by("name", "-created_at"),
        required=False,
        help_text="Applied in the order listed",
    )
    index = forms.ModelChoiceField(queryset=IndexVersion.objects.order_by("-created_at"), required=False)
    query_encoder = forms.CharField(
        required=False,
        help_text="Leave empty to use the index's embedding model (the two must match); set it only to record a "
        "different one, which the compatibility check will refuse without an approver's override.",
    )
    notes = forms.CharField(widget=forms.Textarea, required=False)
    override_reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
        help_text="Approvers: accept a compatibility violation anyway, with a written reason (audited)",
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self._drop_override_unless_approver(user)
        self.fields["model"].label_from_instance = model_label
        numbered = prompts_by_name_and_version()
        self.fields["prompt"].label_from_instance = lambda p: version_label(numbered.get(p.pk, p))
        self.fields["index"].label_from_instance = lambda i: f"{i.name} · {i.encoder} · corpus {i.corpus_snapshot}"

    def clean(self):
        data = super().clean()
        index = data.get("index")
        if index is not None and not (data.get("query_encoder") or "").strip():
            data["query_encoder"] = index.encoder  # queries must be encoded like the index was
        return data

    def clean_adapters(self):
        chosen = {a.pk: a for a in self.cleaned_data["adapters"]}
        order = [int(pk) for pk in self.data.getlist("adapters") if str(pk).isdigit()]
        return [chosen[pk] for pk in order if pk in chosen]


class DeploymentForm(LimitedTextMixin, OverrideMixin, forms.Form):
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
