"""Web forms for starting a rollout and rolling back. They shape input; the services decide."""

from __future__ import annotations

from django import forms

from rollouts.registry.models import Environment, Release
from rollouts.runs.presets import (
    DEFAULT_ROLLBACK_PRESET,
    DEFAULT_ROLLOUT_PRESET,
    ROLLBACK_PRESETS,
    ROLLOUT_PRESETS,
    parse_steps,
)


class EnvironmentChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return f"{obj.feature.slug} / {obj.name}" + (" (production)" if obj.is_production else "")


class ReleaseChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return f"{obj.feature.slug} #{obj.number}" + (f" — {obj.notes[:50]}" if obj.notes else "")


class RolloutStartForm(forms.Form):
    environment = EnvironmentChoice(
        queryset=Environment.objects.select_related("feature").order_by("feature__slug", "-is_production", "name"),
        label="Feature and environment",
    )
    candidate_release = ReleaseChoice(
        queryset=Release.objects.select_related("feature").order_by("feature__slug", "-number"),
        label="Candidate release",
    )
    preset = forms.ChoiceField(
        choices=[(p.key, p.label) for p in ROLLOUT_PRESETS.values()], initial=DEFAULT_ROLLOUT_PRESET, label="Steps"
    )
    custom_steps = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 5, "placeholder": "weight 10\nanalysis\nweight 50\nanalysis\nweight 100"}),
        help_text=ROLLOUT_PRESETS["custom"].help,
    )
    gate_report = forms.IntegerField(
        required=False,
        min_value=1,
        label="Gating report #",
        help_text="Optional: the run starts only if this behaviour-diff report (candidate as release B) passed.",
    )
    analysis_seconds = forms.FloatField(
        required=False, min_value=1, label="Analysis window (s)", help_text="Per judged step; default 300"
    )
    max_looks = forms.IntegerField(
        required=False, min_value=1, max_value=50, label="Judge looks", help_text="Looks per step; default 6"
    )
    bake_seconds = forms.FloatField(
        required=False, min_value=1, label="Bake (s)", help_text="At 100 % before it counts as done; default 1800"
    )
    reason = forms.CharField(required=False, widget=forms.TextInput(attrs={"size": 50}))
    override_reason = forms.CharField(
        required=False,
        label="Compatibility override reason",
        widget=forms.TextInput(attrs={"size": 50}),
        help_text="Approvers only: deploy despite a compatibility violation.",
    )

    def steps(self) -> list[dict] | None:
        data = self.cleaned_data
        if data["preset"] == "custom":
            return parse_steps(data.get("custom_steps", ""))
        return ROLLOUT_PRESETS[data["preset"]].step_list()

    def config(self) -> dict:
        return {
            k: self.cleaned_data[k]
            for k in ("analysis_seconds", "max_looks", "bake_seconds")
            if self.cleaned_data.get(k)
        }


class RollbackForm(forms.Form):
    to_release = forms.CharField(required=False)
    layer = forms.CharField(required=False)
    preset = forms.ChoiceField(
        choices=[(p.key, p.label) for p in ROLLBACK_PRESETS.values()],
        initial=DEFAULT_ROLLBACK_PRESET,
        required=False,
        label="How",
    )

    def clean_preset(self):
        # A client that names a mode instead of a preset (the form's older field) gets that mode's full plan.
        by_mode = {"immediate": "immediate", "staged": "full"}
        return self.cleaned_data["preset"] or by_mode.get(self.data.get("mode", ""), DEFAULT_ROLLBACK_PRESET)

    reason = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    override_reason = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
