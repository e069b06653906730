"""What gateways observed per request, its per-minute rollups, and the judge's look at each analysis window."""

from __future__ import annotations

from django.db import models

from rollouts.registry.models import Environment, Release


def _reference(to, related_name: str) -> models.ForeignKey:
    """An observation table's environment or release: no database foreign key and no index of its own. Ingest
    resolves every reference before it writes, and Django still cascades deletes."""
    return models.ForeignKey(
        to, on_delete=models.CASCADE, related_name=related_name, db_constraint=False, db_index=False
    )


class Observation(models.Model):
    """One request a gateway served, as it reported it. Raw rows are pruned after a retention window;
    the per-minute rollups below outlive them.

    Written by the thousand per batch, so the table carries only what a query uses: no database foreign keys
    (ingest resolves every environment and release before it writes, and Django still cascades deletes), no
    indexes on them, and one index on time -- BRIN on PostgreSQL -- for the judge's edge rows, the retention prune
    and the recent-rows reads: rows arrive in time order, so a few block ranges cover any second of traffic at a
    fraction of a B-tree's upkeep, and the environment and release are checked on those pages. The unique index on
    request ids de-duplicates; on PostgreSQL there is no index on ``id`` (no row is read by it, migration 0010)."""

    environment = _reference(Environment, "observations")
    release = _reference(Release, "observations")
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
        # The index on time is BRIN on PostgreSQL and a B-tree elsewhere, made by migrations 0007 and 0008, as
        # Django has no index that is one kind on one database and another kind on the other.

    def __str__(self) -> str:
        return f"{self.release} at {self.time:%H:%M:%S}"


# Upper bounds (ms) of the latency histogram kept in each rollup; the last bucket is open-ended.
LATENCY_BUCKETS_MS = (100, 250, 500, 1000, 2500, 5000)

# The additive columns of the two rollup tables: every ingestion path sums exactly these, in this order.
ROLLUP_SUMS = (
    "count",
    "errors",
    "refusals",
    "json_checked",
    "json_invalid",
    "feedback_count",
    "feedback_negative",
    "feedback_positive",
    "eval_count",
    "eval_sum",
    "latency_sum",
    *(f"latency_le_{b}" for b in LATENCY_BUCKETS_MS),
    f"latency_gt_{LATENCY_BUCKETS_MS[-1]}",
    "cost",
    "tokens_in",
    "tokens_out",
)
WORKFLOW_ROLLUP_SUMS = ("count", "errors", "feedback_count", "feedback_negative")


class ObservationSample(models.Model):
    """A per-minute reservoir: at most RESERVOIR_SIZE requests of one release in one minute, kept as a uniform
    sample of that minute's requests (rollouts.judging.samples), so a look samples both arms alike over time."""

    environment = _reference(Environment, "+")
    release = _reference(Release, "+")
    minute = models.DateTimeField()
    slot = models.PositiveSmallIntegerField()
    latency_ms = models.FloatField()
    eval_score = models.FloatField(null=True, blank=True)
    cost = models.FloatField(default=0.0)

    class Meta:
        # The unique index (environment, release, minute, slot) also serves the judge's range reads.
        constraints = [
            models.UniqueConstraint(fields=["environment", "release", "minute", "slot"], name="uniq_observation_sample")
        ]

    def __str__(self) -> str:
        return f"{self.release} {self.minute:%Y-%m-%d %H:%M} slot {self.slot}"


class ObservationReservoir(models.Model):
    """How many requests of one release in one minute have been offered to that minute's reservoir (the n of
    Vitter's algorithm R): a batch adds its count here and places its requests after the ones before it. Kept
    apart from the rollups because the rollups count the minute per segment, and a batch that locks this one row
    is ordered after every batch of the minute before it, whichever segments they touched."""

    environment = _reference(Environment, "+")
    release = _reference(Release, "+")
    minute = models.DateTimeField()
    seen = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["environment", "release", "minute"], name="uniq_observation_reservoir")
        ]

    def __str__(self) -> str:
        return f"{self.release} {self.minute:%Y-%m-%d %H:%M}: {self.seen} seen"


class ObservationRollup(models.Model):
    """Sums over one minute of observations for one release and segment (what the canary judge reads).

    Updated by an additive upsert on every ingest, so all columns are sums or counts. Like the raw rows, the
    per-minute tables have no database foreign keys and no single-column indexes on them (migration 0010)."""

    environment = _reference(Environment, "observation_rollups")
    release = _reference(Release, "observation_rollups")
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

    environment = _reference(Environment, "workflow_rollups")
    release = _reference(Release, "workflow_rollups")
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


class Analysis(models.Model):
    """One judgement of canary vs baseline during a run's analysis or bake step."""

    run = models.ForeignKey("rollouts.RolloutRun", on_delete=models.CASCADE, related_name="analyses")
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
