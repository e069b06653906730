from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse

from core.immutable import ImmutableModel
from rollouts.hashing import content_hash


class Layer(models.TextChoices):
    """The four layers of a release. Diagnosis uses its own four (see diagnostics.models.DiagnosisLayer)."""

    MODEL = "model", "Model"
    PROMPT = "prompt", "Prompt"
    ADAPTERS = "adapters", "Adapters"
    INDEX = "index", "Index"


class Source(models.TextChoices):
    WEB = "web", "Web"
    API = "api", "API"
    CI = "ci", "CI"
    SLACK = "slack", "Slack"
    ROLLOUT = "rollout", "Rollout"
    DEMO = "demo", "Demo data"


class Feature(models.Model):
    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    team = models.ForeignKey("core.Team", on_delete=models.PROTECT, related_name="features")
    eval_baseline_stale = models.BooleanField(default=False)
    eval_baseline_stale_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.slug

    def get_absolute_url(self) -> str:
        return reverse("rollouts:feature_detail", args=[self.slug])


class Environment(models.Model):
    feature = models.ForeignKey(Feature, on_delete=models.CASCADE, related_name="environments")
    name = models.SlugField(max_length=40)
    is_production = models.BooleanField(default=False)

    class Meta:
        ordering = ["feature", "-is_production", "name"]
        constraints = [models.UniqueConstraint(fields=["feature", "name"], name="uniq_environment_per_feature")]

    def __str__(self) -> str:
        return f"{self.feature.slug}/{self.name}"


class ComponentVersion(ImmutableModel):
    """Immutable, content-addressed. Subclasses list the fields that make up their content."""

    CONTENT_FIELDS: tuple[str, ...] = ()
    LAYER: Layer

    content_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        abstract = True

    @classmethod
    def hash_content(cls, content: dict) -> str:
        return content_hash({"kind": cls.LAYER.value, **{f: content.get(f) for f in cls.CONTENT_FIELDS}})

    def content(self) -> dict:
        return {f: getattr(self, f) for f in self.CONTENT_FIELDS}

    @property
    def short_hash(self) -> str:
        return self.content_hash[:10]


class Precision(models.TextChoices):
    FP32 = "fp32", "FP32"
    BF16 = "bf16", "BF16"
    FP16 = "fp16", "FP16"
    FP8 = "fp8", "FP8"
    INT8 = "int8", "INT8"
    INT4 = "int4", "INT4"
    UNKNOWN = "unknown", "Unknown (provider-managed)"


class ModelVersion(ComponentVersion):
    CONTENT_FIELDS = (
        "provider",
        "requested_alias",
        "resolved_snapshot",
        "base_model",
        "precision",
        "quantization",
        "decoding_params",
    )
    LAYER = Layer.MODEL

    provider = models.CharField(max_length=60)
    requested_alias = models.CharField(max_length=120, help_text="What the caller asks for, e.g. gpt-4")
    resolved_snapshot = models.CharField(max_length=160, help_text="What the alias resolved to, e.g. gpt-4-0613")
    base_model = models.CharField(
        max_length=160,
        blank=True,
        help_text="Base weights adapters must be trained on; defaults to the snapshot",
    )
    precision = models.CharField(max_length=16, choices=Precision.choices, default=Precision.UNKNOWN)
    quantization = models.CharField(max_length=60, blank=True, help_text="e.g. AWQ, GPTQ, GGUF Q4_K_M")
    decoding_params = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        quant = f" {self.quantization}" if self.quantization else ""
        return f"{self.provider}:{self.resolved_snapshot} ({self.precision}{quant})"

    @property
    def effective_base_model(self) -> str:
        return self.base_model or self.resolved_snapshot


class PromptVersion(ComponentVersion):
    CONTENT_FIELDS = ("name", "system_prompt", "template", "variables")
    LAYER = Layer.PROMPT

    name = models.CharField(max_length=120)
    system_prompt = models.TextField(blank=True)
    template = models.TextField(blank=True)
    variables = models.JSONField(default=list, blank=True)
    author = models.CharField(max_length=150, blank=True)
    message = models.TextField(blank=True, help_text="Why this prompt changed, like a commit message")

    def __str__(self) -> str:
        return f"{self.name}@{self.short_hash}"


class AdapterVersion(ComponentVersion):
    CONTENT_FIELDS = ("name", "base_model", "rank", "alpha", "merge_method", "digest", "training_corpus_ref")
    LAYER = Layer.ADAPTERS

    name = models.CharField(max_length=120)
    base_model = models.CharField(max_length=160)
    rank = models.PositiveIntegerField()
    alpha = models.FloatField()
    merge_method = models.CharField(max_length=40, default="none", help_text="none (runtime), linear, ties, dare…")
    digest = models.CharField(max_length=128, help_text="Digest of the adapter weights")
    training_corpus_ref = models.CharField(max_length=300, blank=True)

    def __str__(self) -> str:
        return f"{self.name}@{self.digest[:12]}"


class IndexVersion(ComponentVersion):
    CONTENT_FIELDS = (
        "name",
        "embedding_model",
        "embedding_model_version",
        "dimension",
        "corpus_snapshot",
        "document_count",
        "built_at",
    )
    LAYER = Layer.INDEX

    name = models.CharField(max_length=120)
    embedding_model = models.CharField(max_length=160)
    embedding_model_version = models.CharField(max_length=60, blank=True)
    dimension = models.PositiveIntegerField()
    corpus_snapshot = models.CharField(max_length=200)
    document_count = models.PositiveIntegerField()
    built_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} ({self.encoder}, {self.corpus_snapshot})"

    @property
    def encoder(self) -> str:
        """The query encoder this index needs: 'model' or 'model@version'."""
        if self.embedding_model_version:
            return f"{self.embedding_model}@{self.embedding_model_version}"
        return self.embedding_model


class Release(ImmutableModel):
    """An immutable manifest of component versions for one feature, numbered per feature."""

    feature = models.ForeignKey(Feature, on_delete=models.PROTECT, related_name="releases")
    number = models.PositiveIntegerField()
    model = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="releases")
    prompt = models.ForeignKey(PromptVersion, on_delete=models.PROTECT, related_name="releases")
    index = models.ForeignKey(IndexVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="releases")
    query_encoder = models.CharField(max_length=200, blank=True, help_text="'model' or 'model@version'")
    adapters = models.ManyToManyField(AdapterVersion, through="ReleaseAdapter", related_name="releases", blank=True)
    manifest_hash = models.CharField(max_length=64, editable=False)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    notes = models.TextField(blank=True)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.WEB)
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Release it was derived from",
    )
    compatibility_override_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["feature", "-number"]
        constraints = [models.UniqueConstraint(fields=["feature", "number"], name="uniq_release_number_per_feature")]
        indexes = [models.Index(fields=["feature", "manifest_hash"])]

    def __str__(self) -> str:
        return f"{self.feature.slug} #{self.number}"

    def get_absolute_url(self) -> str:
        return reverse("rollouts:release_detail", args=[self.pk])

    def ordered_adapters(self) -> list[AdapterVersion]:
        return [link.adapter for link in self.adapter_links.all()]


class ReleaseAdapter(ImmutableModel):
    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="adapter_links")
    adapter = models.ForeignKey(AdapterVersion, on_delete=models.PROTECT, related_name="+")
    position = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["release", "position"]
        constraints = [models.UniqueConstraint(fields=["release", "position"], name="uniq_adapter_position")]


class DeploymentEvent(ImmutableModel):
    """Append-only fact: release R became live in environment E at time T (by whom, via what).

    Nothing else stores "current": what was live at T is the newest event at or before T.
    """

    environment = models.ForeignKey(Environment, on_delete=models.PROTECT, related_name="deployments")
    release = models.ForeignKey(Release, on_delete=models.PROTECT, related_name="deployments")
    live_at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    via = models.CharField(max_length=16, choices=Source.choices, default=Source.WEB)
    is_rollback = models.BooleanField(default=False)
    rollout_run_id = models.BigIntegerField(null=True, blank=True, help_text="Run that made this live, if any")
    override_reason = models.TextField(blank=True)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["environment", "-live_at", "-id"]
        indexes = [models.Index(fields=["environment", "-live_at", "-id"], name="deploy_env_live_idx")]

    def __str__(self) -> str:
        return f"{self.release} live in {self.environment.name} at {self.live_at:%Y-%m-%d %H:%M}"


def manifest_of(
    *,
    model: ModelVersion,
    prompt: PromptVersion,
    adapters: list[AdapterVersion],
    index: IndexVersion | None,
    query_encoder: str,
) -> dict:
    return {
        "model": model.content_hash,
        "prompt": prompt.content_hash,
        "adapters": [a.content_hash for a in adapters],
        "index": index.content_hash if index else None,
        "query_encoder": query_encoder,
    }


def manifest_hash_of(**parts) -> str:
    return content_hash(manifest_of(**parts))


# --- Rollout runs ---


class RunState(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    PAUSED = "paused", "Paused"
    SUCCEEDED = "succeeded", "Succeeded"
    ROLLING_BACK = "rolling_back", "Rolling back"
    ROLLED_BACK = "rolled_back", "Rolled back"
    ABORTED = "aborted", "Aborted"
    FAILED = "failed", "Failed"


ACTIVE_RUN_STATES = (RunState.PENDING, RunState.RUNNING, RunState.PAUSED, RunState.ROLLING_BACK)
FINAL_RUN_STATES = (RunState.SUCCEEDED, RunState.ROLLED_BACK, RunState.ABORTED, RunState.FAILED)


class RunKind(models.TextChoices):
    ROLLOUT = "rollout", "Rollout"
    ROLLBACK = "rollback", "Rollback"


class RunMode(models.TextChoices):
    STAGED = "staged", "Staged"
    IMMEDIATE = "immediate", "Immediate"


class RolloutRun(models.Model):
    """Moves an environment's traffic from ``stable_release`` to ``candidate_release`` through ``steps``.

    A rollback is a run whose candidate is an earlier release. Traffic weights live here while the run is in
    flight; once it finishes a DeploymentEvent records the outcome.
    """

    environment = models.ForeignKey(Environment, on_delete=models.PROTECT, related_name="runs")
    stable_release = models.ForeignKey(
        Release, null=True, blank=True, on_delete=models.PROTECT, related_name="+", help_text="Live when it started"
    )
    candidate_release = models.ForeignKey(Release, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=16, choices=RunKind.choices, default=RunKind.ROLLOUT)
    mode = models.CharField(max_length=16, choices=RunMode.choices, default=RunMode.STAGED)
    steps = models.JSONField(default=list)
    config = models.JSONField(default=dict, blank=True, help_text="Per-run timings (seconds) and judge settings")
    step_index = models.PositiveIntegerField(default=0)
    step_started_at = models.DateTimeField(null=True, blank=True)
    step_looks = models.PositiveIntegerField(default=0, help_text="Judgements made in the current step")
    candidate_weight = models.PositiveSmallIntegerField(default=0, help_text="Percent of traffic on the candidate")
    state = models.CharField(max_length=16, choices=RunState.choices, default=RunState.PENDING)
    state_reason = models.TextField(blank=True)
    paused_from = models.CharField(max_length=16, blank=True, help_text="State a resume returns to")
    aborting = models.BooleanField(default=False, help_text="Rolling back because someone aborted it")
    next_check_at = models.DateTimeField(null=True, blank=True, help_text="When the tick should drive it next")
    # A worker claims a step with a lease; a claim whose lease expired belonged to a worker that died.
    lease_owner = models.CharField(max_length=64, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    incident_id = models.BigIntegerField(null=True, blank=True, help_text="Linked incident, if any")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.TextField(blank=True)
    override_reason = models.TextField(blank=True, help_text="Approver's reason to override compatibility checks")
    idempotency_key = models.CharField(max_length=120, null=True, blank=True, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    rollback_started_at = models.DateTimeField(null=True, blank=True)
    time_to_rollback = models.DurationField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["environment"],
                condition=models.Q(state__in=[s.value for s in ACTIVE_RUN_STATES]),
                name="one_active_run_per_environment",
            )
        ]
        indexes = [models.Index(fields=["state", "next_check_at"], name="run_state_next_idx")]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} {self.environment} → #{self.candidate_release.number}"

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE_RUN_STATES

    @property
    def current_step(self) -> dict | None:
        return self.steps[self.step_index] if self.step_index < len(self.steps) else None


class RolloutTransition(models.Model):
    run = models.ForeignKey(RolloutRun, on_delete=models.CASCADE, related_name="transitions")
    old_state = models.CharField(max_length=16, choices=RunState.choices)
    new_state = models.CharField(max_length=16, choices=RunState.choices)
    step_index = models.PositiveIntegerField(default=0)
    reason = models.TextField(blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=150, default="system")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["run", "created_at", "id"]

    def __str__(self) -> str:
        return f"run #{self.run_id}: {self.old_state} → {self.new_state}"


class Analysis(models.Model):
    """One judgement of canary vs baseline during a run's analysis or bake step."""

    run = models.ForeignKey(RolloutRun, on_delete=models.CASCADE, related_name="analyses")
    step_index = models.PositiveIntegerField()
    look = models.PositiveIntegerField()
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    verdict = models.CharField(max_length=16)
    result = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["run", "created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["run", "step_index", "look"], name="uniq_analysis_look")]

    def __str__(self) -> str:
        return f"run #{self.run_id} step {self.step_index} look {self.look}: {self.verdict}"


class WebhookTarget(models.Model):
    """A gateway that wants each weight change of an environment pushed to it (HMAC-SHA256 signed)."""

    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="webhook_targets")
    url = models.URLField(max_length=500)
    secret = models.CharField(max_length=200)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["environment", "id"]

    def __str__(self) -> str:
        return f"{self.environment} → {self.url}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"


class WebhookDelivery(models.Model):
    """One weight change for one target. The idempotency key is stable per (run, step, target), so a retried
    task finds the delivered row and never sends it again."""

    idempotency_key = models.CharField(max_length=120, unique=True)
    target = models.ForeignKey(WebhookTarget, on_delete=models.CASCADE, related_name="deliveries")
    run = models.ForeignKey(RolloutRun, on_delete=models.CASCADE, related_name="deliveries")
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["run", "id"]

    def __str__(self) -> str:
        return f"{self.idempotency_key} ({self.status})"


class RoutingTable(models.Model):
    """The routing table gateways read, materialised on every weight change so the read is one query.

    ``version`` increases with each change; the ETag is derived from it and the body's hash.
    """

    environment = models.OneToOneField(Environment, on_delete=models.CASCADE, primary_key=True, related_name="+")
    version = models.PositiveBigIntegerField(default=0)
    etag = models.CharField(max_length=80)
    body = models.JSONField()
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"routing of environment {self.environment_id} v{self.version}"


# --- Observations and user impact ---


class Observation(models.Model):
    """One request a gateway served, as it reported it. Raw rows are pruned after a retention window;
    the per-minute rollups below outlive them."""

    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="observations")
    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="observations")
    time = models.DateTimeField()
    latency_ms = models.FloatField()
    error = models.BooleanField(default=False)
    refusal = models.BooleanField(default=False)
    json_valid = models.BooleanField(null=True, blank=True)
    feedback = models.SmallIntegerField(null=True, blank=True, help_text="-1, 0 or 1")
    eval_score = models.FloatField(null=True, blank=True)
    cost = models.FloatField(default=0.0)
    tokens_in = models.PositiveIntegerField(default=0)
    tokens_out = models.PositiveIntegerField(default=0)
    segment = models.JSONField(default=dict, blank=True)
    segment_key = models.CharField(max_length=255, blank=True, help_text="Canonical 'k=v&k=v' form of segment")
    workflow_id = models.CharField(max_length=120, blank=True)
    request_id = models.CharField(max_length=120, null=True, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["environment", "request_id"],
                condition=models.Q(request_id__isnull=False),
                name="uniq_observation_request_id",
            )
        ]
        indexes = [
            models.Index(fields=["environment", "release", "-time"], name="obs_env_release_time_idx"),
            models.Index(fields=["time"], name="obs_time_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.release} at {self.time:%H:%M:%S}"


# Upper bounds (ms) of the latency histogram kept in each rollup; the last bucket is open-ended.
LATENCY_BUCKETS_MS = (100, 250, 500, 1000, 2500, 5000)


class ObservationRollup(models.Model):
    """Sums over one minute of observations for one release and segment (what the canary judge reads).

    Updated by an additive upsert on every ingest, so all columns are sums or counts."""

    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="observation_rollups")
    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="observation_rollups")
    minute = models.DateTimeField()
    segment_key = models.CharField(max_length=255, blank=True)
    count = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)
    refusals = models.PositiveIntegerField(default=0)
    json_checked = models.PositiveIntegerField(default=0)
    json_invalid = models.PositiveIntegerField(default=0)
    feedback_count = models.PositiveIntegerField(default=0)
    feedback_negative = models.PositiveIntegerField(default=0)
    feedback_positive = models.PositiveIntegerField(default=0)
    eval_count = models.PositiveIntegerField(default=0)
    eval_sum = models.FloatField(default=0.0)
    latency_sum = models.FloatField(default=0.0)
    latency_le_100 = models.PositiveIntegerField(default=0)
    latency_le_250 = models.PositiveIntegerField(default=0)
    latency_le_500 = models.PositiveIntegerField(default=0)
    latency_le_1000 = models.PositiveIntegerField(default=0)
    latency_le_2500 = models.PositiveIntegerField(default=0)
    latency_le_5000 = models.PositiveIntegerField(default=0)
    latency_gt_5000 = models.PositiveIntegerField(default=0)
    cost = models.FloatField(default=0.0)
    tokens_in = models.BigIntegerField(default=0)
    tokens_out = models.BigIntegerField(default=0)

    class Meta:
        # The unique index (environment, release, minute, …) also serves the judge's range reads.
        constraints = [
            models.UniqueConstraint(
                fields=["environment", "release", "minute", "segment_key"], name="uniq_observation_rollup"
            )
        ]

    def __str__(self) -> str:
        return f"{self.release} {self.minute:%Y-%m-%d %H:%M} {self.segment_key or '-'}"


class WorkflowRollup(models.Model):
    """Sums over one minute of observations for one release and workflow (what the impact tracker reads).

    Kept apart from segment rollups so their sizes add rather than multiply (segments x workflows)."""

    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="workflow_rollups")
    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="workflow_rollups")
    minute = models.DateTimeField()
    workflow_id = models.CharField(max_length=120)
    tenant = models.CharField(max_length=80, blank=True, help_text="segment.tenant of the requests")
    count = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)
    feedback_count = models.PositiveIntegerField(default=0)
    feedback_negative = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["environment", "release", "minute", "workflow_id", "tenant"], name="uniq_workflow_rollup"
            )
        ]
        indexes = [models.Index(fields=["environment", "workflow_id", "minute"], name="wfrollup_env_wf_min_idx")]

    def __str__(self) -> str:
        return f"{self.workflow_id} on {self.release} {self.minute:%Y-%m-%d %H:%M}"


class Behaviour(models.TextChoices):
    OUTPUT_FORMAT = "output_format", "Output format or parser"
    PROMPT_STRATEGY = "prompt_strategy", "Prompt strategy built around the model"
    REVIEW_LOOP = "review_loop", "Review loop"
    CONFIDENCE = "confidence", "Reading of confidence"
    TONE = "tone", "Tone"
    OTHER = "other", "Other"


class ImpactStatus(models.TextChoices):
    PENDING = "pending", "Pending review"
    NOTIFIED = "notified", "Notified"
    ACCEPTED = "accepted", "Accepted"
    PINNED = "pinned", "Pinned"


class ImpactSource(models.TextChoices):
    MANUAL = "manual", "Entered by hand"
    DETECTED = "detected", "Detected from observations"


class DependentWorkflow(models.Model):
    """A customer's or team's workflow that relies on a behaviour of a release; reviewed before a rollback."""

    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="dependent_workflows")
    release = models.ForeignKey(Release, on_delete=models.PROTECT, related_name="dependent_workflows")
    workflow_id = models.CharField(max_length=120, help_text="Workflow id as gateways report it")
    name = models.CharField(max_length=200, blank=True)
    customer = models.CharField(max_length=120, blank=True, help_text="Customer or tenant")
    team = models.ForeignKey("core.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    behaviour = models.CharField(max_length=20, choices=Behaviour.choices, default=Behaviour.OTHER)
    downstream_system = models.CharField(max_length=200, blank=True)
    contact = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=12, choices=ImpactStatus.choices, default=ImpactStatus.PENDING)
    migration_path = models.TextField(blank=True)
    evidence = models.TextField(blank=True)
    source = models.CharField(max_length=10, choices=ImpactSource.choices, default=ImpactSource.MANUAL)
    detected_reasons = models.JSONField(default=list, blank=True)
    detection = models.JSONField(default=dict, blank=True, help_text="Numbers behind the detection")
    review_note = models.TextField(blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["environment", "release", "status", "workflow_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["environment", "release", "workflow_id"], name="uniq_dependent_workflow_per_release"
            )
        ]

    def __str__(self) -> str:
        return f"{self.workflow_id} ({self.customer or 'unknown customer'}) on {self.release}"

    @property
    def is_reviewed(self) -> bool:
        return self.status != ImpactStatus.PENDING


class ImpactWaiver(ImmutableModel):
    """An approver's emergency decision to roll back without waiting for every review."""

    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="impact_waivers")
    from_release = models.ForeignKey(Release, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField()
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Waiver for rolling back {self.from_release} in {self.environment.name}"


class ImpactFollowup(models.Model):
    """After a rollback: follow each dependent workflow's error rate for a window."""

    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="impact_followups")
    rolled_back_release = models.ForeignKey(Release, on_delete=models.PROTECT, related_name="+")
    to_release = models.ForeignKey(Release, on_delete=models.PROTECT, related_name="+")
    started_at = models.DateTimeField()
    window_minutes = models.PositiveIntegerField(default=120)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"Follow-up of rollback {self.rolled_back_release} -> {self.to_release} in {self.environment.name}"


# Change events out keep their models in their own module, under this app's label.
from rollouts.change_events.models import ChangeEventDelivery, ChangeEventTarget  # noqa: E402, F401
