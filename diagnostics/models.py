from __future__ import annotations

from django.conf import settings
from django.db import models

from core.immutable import ImmutableModel

# ---------------------------------------------------------------------------------------------------------------
# Four-layer diagnosis. Behaviour-diff report models follow below.
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


# --- Behaviour-diff reports ---
# A prompt set is named; its versions are immutable snapshots of cases. A report compares two releases'
# answers over one prompt-set version; outputs are stored row by row so large sets stream.


class PromptSet(models.Model):
    name = models.SlugField(max_length=80, unique=True)
    description = models.TextField(blank=True)
    feature = models.ForeignKey(
        "rollouts.Feature", null=True, blank=True, on_delete=models.SET_NULL, related_name="prompt_sets"
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class PromptSetVersion(ImmutableModel):
    """An immutable snapshot of cases plus how they were sampled (window, filters, notes)."""

    prompt_set = models.ForeignKey(PromptSet, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    case_count = models.PositiveIntegerField()
    segment_fields = models.JSONField(default=list, blank=True)
    sampled_from = models.DateTimeField(null=True, blank=True)
    sampled_until = models.DateTimeField(null=True, blank=True)
    sampling_filters = models.JSONField(default=dict, blank=True)
    sampling_notes = models.TextField(blank=True)
    source_filename = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["prompt_set", "-number"]
        constraints = [models.UniqueConstraint(fields=["prompt_set", "number"], name="uniq_prompt_set_version")]

    def __str__(self) -> str:
        return f"{self.prompt_set.name} v{self.number}"


class PromptCase(ImmutableModel):
    version = models.ForeignKey(PromptSetVersion, on_delete=models.PROTECT, related_name="cases")
    case_id = models.CharField(max_length=200)
    input = models.TextField()
    segments = models.JSONField(default=dict, blank=True)
    expected = models.TextField(blank=True)
    json_schema = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["version", "id"]
        constraints = [models.UniqueConstraint(fields=["version", "case_id"], name="uniq_case_id_per_version")]

    def __str__(self) -> str:
        return self.case_id


class GenerationEndpoint(models.Model):
    """How to call a release live: an OpenAI-compatible chat-completions endpoint.

    ``header_env`` maps header names to environment variable names (e.g. {"Authorization": "OPENAI_AUTH"}):
    secret values never touch the database.
    """

    release = models.OneToOneField("rollouts.Release", on_delete=models.CASCADE, related_name="generation_endpoint")
    base_url = models.URLField(max_length=300, help_text="e.g. https://api.example.com (without /v1/...)")
    model = models.CharField(max_length=160)
    header_env = models.JSONField(default=dict, blank=True)
    temperature = models.FloatField(default=0.0)
    max_tokens = models.PositiveIntegerField(null=True, blank=True)
    timeout_seconds = models.FloatField(default=60.0)
    max_retries = models.PositiveSmallIntegerField(default=4)
    concurrency = models.PositiveSmallIntegerField(default=4)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.model} @ {self.base_url}"

    def clean(self) -> None:
        import re

        from django.core.exceptions import ValidationError

        env_name = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
        header_name = re.compile(r"^[A-Za-z0-9-]+$")
        if not isinstance(self.header_env, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and header_name.match(k) and env_name.match(v)
            for k, v in self.header_env.items()
        ):
            raise ValidationError(
                {"header_env": 'Map header names to environment variable names, e.g. {"Authorization": "LLM_AUTH"}.'}
            )


class ReportStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class OutputSource(models.TextChoices):
    UPLOAD = "upload", "Uploaded files"
    LIVE = "live", "Generated live"


class BehaviourReport(models.Model):
    FINISHED = (ReportStatus.SUCCEEDED, ReportStatus.FAILED, ReportStatus.CANCELLED)

    title = models.CharField(max_length=200, blank=True)
    release_a = models.ForeignKey("rollouts.Release", on_delete=models.PROTECT, related_name="+")
    release_b = models.ForeignKey("rollouts.Release", on_delete=models.PROTECT, related_name="+")
    prompt_set_version = models.ForeignKey(PromptSetVersion, on_delete=models.PROTECT, related_name="reports")
    source = models.CharField(max_length=8, choices=OutputSource.choices, default=OutputSource.UPLOAD)
    samples = models.PositiveSmallIntegerField(default=1, help_text="K answers per case and release")
    options = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=12, choices=ReportStatus.choices, default=ReportStatus.QUEUED)
    cancel_requested = models.BooleanField(default=False)
    progress = models.FloatField(default=0.0)
    progress_message = models.CharField(max_length=300, blank=True)
    verdict = models.CharField(max_length=32, blank=True)
    summary = models.JSONField(null=True, blank=True, help_text="What the page shows: the result minus raw values")
    result = models.JSONField(null=True, blank=True, help_text="The engine's full report (exports)")
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, help_text="Last sign of life from the worker running it (progress updates)"
    )
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "-created_at"], name="report_status_idx")]

    def __str__(self) -> str:
        return self.title or f"Report #{self.pk}: {self.release_a} vs {self.release_b}"

    def get_absolute_url(self) -> str:
        from django.urls import reverse  # not at the top: keeps this file's header identical across branches

        return reverse("diagnostics:report_detail", args=[self.pk])

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED


class Side(models.TextChoices):
    A = "a", "Release A"
    B = "b", "Release B"


class Output(models.Model):
    """One answer: written in chunks by upload or live generation, read back in chunks by the task."""

    report = models.ForeignKey(BehaviourReport, on_delete=models.CASCADE, related_name="outputs")
    case = models.ForeignKey(PromptCase, on_delete=models.PROTECT, related_name="+")
    side = models.CharField(max_length=1, choices=Side.choices)
    sample = models.PositiveSmallIntegerField(default=0)
    text = models.TextField()
    latency_ms = models.FloatField(null=True, blank=True)
    cost = models.FloatField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["report", "case", "side", "sample"], name="uniq_output_per_sample")
        ]

    def __str__(self) -> str:
        return f"{self.side}#{self.sample} of case {self.case_id}"


class LinkPurpose(models.TextChoices):
    EVIDENCE = "evidence", "Evidence for an incident layer"
    GATE = "gate", "Rollout gate"


class ReportLink(models.Model):
    """Points any object (incident layer diagnosis, rollout) at a report without importing its app."""

    report = models.ForeignKey(BehaviourReport, on_delete=models.PROTECT, related_name="links")
    object_type = models.CharField(max_length=80, help_text="app_label.model")
    object_id = models.CharField(max_length=64)
    purpose = models.CharField(max_length=12, choices=LinkPurpose.choices)
    layer = models.CharField(max_length=20, blank=True, help_text="For evidence: model, data, prompt or product")
    note = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["report", "object_type", "object_id", "purpose"], name="uniq_report_link_per_purpose"
            )
        ]
        indexes = [models.Index(fields=["object_type", "object_id"])]

    def __str__(self) -> str:
        return f"{self.report_id} -> {self.object_type}#{self.object_id} ({self.purpose})"
