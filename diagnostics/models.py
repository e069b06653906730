from __future__ import annotations

from django.conf import settings
from django.db import models

from core.immutable import ImmutableModel

# ---------------------------------------------------------------------------------------------------------------
# Four-layer diagnosis (issue 3). Behaviour-diff report models are appended below this section by their branch.
# ---------------------------------------------------------------------------------------------------------------


class DiagnosisLayer(models.TextChoices):
    """The four layers every incident is walked through (not the same as a release's component layers)."""

    MODEL = "model", "Model"
    DATA = "data", "Data / retrieval"
    PROMPT = "prompt", "Prompt"
    PRODUCT = "product", "Product / monitoring"


class Verdict(models.TextChoices):
    UNEXAMINED = "unexamined", "Unexamined"
    INVESTIGATING = "investigating", "Investigating"
    RULED_OUT = "ruled_out", "Ruled out"
    CONTRIBUTING = "contributing", "Contributing"
    ROOT_CAUSE = "root_cause", "Root cause"


FINAL_VERDICTS = (Verdict.RULED_OUT, Verdict.CONTRIBUTING, Verdict.ROOT_CAUSE)
IMPLICATING_VERDICTS = (Verdict.CONTRIBUTING, Verdict.ROOT_CAUSE)


class LayerOwner(models.Model):
    """A feature's ownership map: one person per layer (and the team they answer for)."""

    feature = models.ForeignKey("rollouts.Feature", on_delete=models.CASCADE, related_name="layer_owners")
    layer = models.CharField(max_length=8, choices=DiagnosisLayer.choices)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_layers")
    team = models.ForeignKey("core.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["feature", "layer"]
        constraints = [models.UniqueConstraint(fields=["feature", "layer"], name="uniq_layer_owner_per_feature")]

    def __str__(self) -> str:
        return f"{self.feature}/{self.layer}: {self.owner}"


class LayerDiagnosis(models.Model):
    incident = models.ForeignKey("incidents.Incident", on_delete=models.CASCADE, related_name="layer_diagnoses")
    layer = models.CharField(max_length=8, choices=DiagnosisLayer.choices)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="layer_diagnoses"
    )
    status = models.CharField(max_length=16, choices=Verdict.choices, default=Verdict.UNEXAMINED)
    checklist = models.JSONField(default=dict, blank=True, help_text="question key -> {answer, by, at}")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["incident", "layer"]
        constraints = [models.UniqueConstraint(fields=["incident", "layer"], name="uniq_diagnosis_layer")]

    def __str__(self) -> str:
        return f"{self.get_layer_display()} diagnosis of INC-{self.incident_id}"

    @property
    def has_verdict(self) -> bool:
        return self.status in FINAL_VERDICTS


class EvidenceKind(models.TextChoices):
    NOTE = "note", "Note"
    LINK = "link", "Link"
    RELEASE_DIFF = "release_diff", "Release diff"
    REPORT = "report", "Behaviour-diff report"
    DRIFT = "drift", "Drift signal"


class Evidence(ImmutableModel):
    """Append-only: what someone found while examining a layer."""

    diagnosis = models.ForeignKey(LayerDiagnosis, on_delete=models.CASCADE, related_name="evidence")
    kind = models.CharField(max_length=16, choices=EvidenceKind.choices, default=EvidenceKind.NOTE)
    text = models.TextField(blank=True)
    url = models.URLField(blank=True)
    data = models.JSONField(default=dict, blank=True, help_text="e.g. release ids of a diff, a report id")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["diagnosis", "created_at", "id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {(self.text or self.url)[:60]}"


class OwnerAssignment(ImmutableModel):
    """Every (re)assignment of a layer: who did it, from whom, to whom, and why."""

    diagnosis = models.ForeignKey(LayerDiagnosis, on_delete=models.CASCADE, related_name="assignments")
    from_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    to_owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["diagnosis", "created_at", "id"]

    def __str__(self) -> str:
        return f"{self.diagnosis}: {self.from_owner} → {self.to_owner}"
