from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse

from core.immutable import ImmutableModel
from rollouts.registry.hashing import content_hash


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
