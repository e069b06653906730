from __future__ import annotations

import json

from django import forms

from diagnostics.models import GenerationEndpoint, LinkPurpose, OutputSource, PromptSetVersion
from diagnostics.reports.coverage import parse_counts
from diagnostics.reports.refusal_judge import judge_or_reason
from diagnostics.reports.services import ENDPOINT_FIELDS
from rollouts.models import Release


class JSONObjectField(forms.CharField):
    def to_python(self, value):
        value = super().to_python(value).strip()
        if not value:
            return {}
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc.msg}.") from None
        if not isinstance(parsed, dict):
            raise forms.ValidationError('A JSON object, e.g. {"tenant": "acme"}.')
        return parsed


class PromptSetImportForm(forms.Form):
    name = forms.SlugField(max_length=80, help_text="A new name creates a set; an existing one gets a new version.")
    file = forms.FileField(help_text="JSONL or CSV: case_id, input, optional expected, schema, segment fields.")
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    sampled_from = forms.DateTimeField(required=False, help_text="Sampling window start (UTC)")
    sampled_until = forms.DateTimeField(required=False)
    sampling_filters = JSONObjectField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    sampling_notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))


class CoverageForm(forms.Form):
    field = forms.ChoiceField()
    production_counts = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 5, "placeholder": "en-US,5200\nde-DE,800"}),
        help_text="One 'segment value,count' per line. Leave empty to read production observations.",
    )

    def __init__(self, *args, version: PromptSetVersion, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["field"].choices = [(f, f) for f in version.segment_fields]

    def clean_production_counts(self):
        text = self.cleaned_data["production_counts"]
        if not text.strip():
            return None
        try:
            return parse_counts(text)
        except forms.ValidationError as exc:
            raise forms.ValidationError(exc.message_dict["production_counts"]) from None


class ReportRequestForm(forms.Form):
    title = forms.CharField(required=False, max_length=200)
    prompt_set_version = forms.ModelChoiceField(PromptSetVersion.objects.select_related("prompt_set"))
    release_a = forms.ModelChoiceField(Release.objects.select_related("feature"), label="Release A (before)")
    release_b = forms.ModelChoiceField(Release.objects.select_related("feature"), label="Release B (after)")
    source = forms.ChoiceField(choices=OutputSource.choices, initial=OutputSource.UPLOAD)
    outputs_a = forms.FileField(
        required=False, help_text="JSONL/CSV: case_id, output, optional sample, latency_ms, cost"
    )
    outputs_b = forms.FileField(required=False)
    samples = forms.IntegerField(min_value=1, max_value=20, initial=1, help_text="K samples per case (live source)")
    segment_fields = forms.CharField(
        required=False, help_text="Comma-separated segment fields to break down by; empty = all of the set's fields"
    )
    alpha = forms.FloatField(min_value=0.001, max_value=0.2, initial=0.05)
    refusal_patterns = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "i can(?:no|')t help\nplease contact support"}),
        help_text="One regular expression per line to replace the maintained refusal patterns; empty = the defaults.",
    )
    refusal_judge = forms.BooleanField(required=False, label="Refusal judge")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        judge, reason = judge_or_reason()
        self.fields["refusal_judge"].help_text = (
            f"Let {judge.model} decide each answer's refusal verdict, shown its prompt (one model call per answer)."
            if judge
            else reason
        )

    def options(self) -> dict:
        data = self.cleaned_data
        options: dict = {"alpha": data["alpha"]}
        fields = [f.strip() for f in (data.get("segment_fields") or "").split(",") if f.strip()]
        if fields:
            options["segment_fields"] = fields
        patterns = [p.strip() for p in (data.get("refusal_patterns") or "").splitlines() if p.strip()]
        if patterns:
            options["refusal_patterns"] = patterns
        if data.get("refusal_judge"):
            options["refusal_judge"] = True
        return options


class ReportLinkForm(forms.Form):
    purpose = forms.ChoiceField(choices=LinkPurpose.choices)
    object_type = forms.CharField(
        max_length=80, help_text="incidents.incident (evidence for one of its layers) or any app_label.model"
    )
    object_id = forms.CharField(max_length=64)
    layer = forms.ChoiceField(
        required=False,
        choices=[
            ("", "—"),
            ("model", "Model"),
            ("data", "Data/retrieval"),
            ("prompt", "Prompt"),
            ("product", "Product"),
        ],
    )
    note = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))


class GenerationEndpointForm(forms.ModelForm):
    base_url = forms.URLField(max_length=300, assume_scheme="https", help_text="e.g. https://llm.internal:8000")
    header_env = JSONObjectField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": '{"Authorization": "SUPPORT_LLM_AUTH"}'}),
        help_text="Header name -> name of an environment variable on the workers. Never paste the secret itself.",
    )

    class Meta:
        model = GenerationEndpoint
        fields = ["release", *ENDPOINT_FIELDS]


def pattern_lines(text: str) -> list[str]:
    return [p.strip() for p in (text or "").splitlines() if p.strip()]


class CompareForm(forms.Form):
    file_a = forms.FileField(label="Answers A (before)", help_text="JSONL, JSON array or CSV (AlpacaEval, Arena-Hard)")
    file_b = forms.FileField(label="Answers B (after)")
    prompts = forms.FileField(required=False, help_text="Optional prompts file with segment fields, by id or prompt")
    label_a = forms.CharField(required=False, max_length=120, help_text="Default: the file's generator, else its name")
    label_b = forms.CharField(required=False, max_length=120)
    segment_fields = forms.CharField(required=False, help_text="Comma-separated segment fields")
    text_field = forms.CharField(
        required=False, max_length=80, help_text="Default: output, completion, response, answer"
    )
    id_field = forms.CharField(required=False, max_length=80, help_text="Default: id, case_id, question_id, uid")
    alpha = forms.FloatField(min_value=0.001, max_value=0.2, initial=0.05)
    refusal_patterns = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "^nope\ni can(?:no|')t help"}),
        help_text="One regular expression per line instead of the maintained refusal grammar; ^ = start of the answer.",
    )

    def clean_segment_fields(self) -> list[str]:
        return [f.strip() for f in (self.cleaned_data.get("segment_fields") or "").split(",") if f.strip()]

    def clean_refusal_patterns(self) -> list[str] | None:
        return pattern_lines(self.cleaned_data.get("refusal_patterns")) or None
