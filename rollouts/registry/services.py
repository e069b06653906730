"""Writes to the release registry. Every function takes a keyword-only ``actor``, checks its role in
``core.permissions`` and audits."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.audit import audit_record
from core.permissions import can, require
from rollouts.registry.compatibility import Violation, baseline_staleness, check_manifest
from rollouts.registry.models import (
    AdapterVersion,
    ComponentVersion,
    DeploymentEvent,
    Environment,
    Feature,
    IndexVersion,
    ModelVersion,
    PromptVersion,
    Release,
    ReleaseAdapter,
    Source,
    manifest_hash_of,
)
from rollouts.registry.rollbacks import rollback_require
from rollouts.registry.selectors import live_release_at
from rollouts.registry.signals import deployment_recorded

FEATURE_FIELDS = ("slug", "name", "description", "team")


def _feature_state(feature: Feature) -> dict:
    return {"slug": feature.slug, "name": feature.name, "description": feature.description, "team": feature.team.slug}


@transaction.atomic
def feature_create(*, actor, slug: str, name: str, team, description: str = "") -> Feature:
    require(actor, "feature.manage")
    feature = Feature(slug=slug, name=name, team=team, description=description)
    feature.full_clean()
    feature.save()
    audit_record(actor=actor, action="feature.create", obj=feature, after=_feature_state(feature))
    return feature


@transaction.atomic
def feature_update(*, actor, feature: Feature, **changes) -> Feature:
    require(actor, "feature.manage")
    unknown = set(changes) - set(FEATURE_FIELDS)
    if unknown:
        raise ValidationError({name: ["This field cannot be changed."] for name in sorted(unknown)})
    feature = Feature.objects.select_for_update().get(pk=feature.pk)
    before = _feature_state(feature)
    for name, value in changes.items():
        setattr(feature, name, value)
    feature.full_clean()
    feature.save()
    audit_record(actor=actor, action="feature.update", obj=feature, before=before, after=_feature_state(feature))
    return feature


@transaction.atomic
def environment_create(*, actor, feature: Feature, name: str, is_production: bool = False) -> Environment:
    require(actor, "feature.manage")
    environment = Environment(feature=feature, name=name, is_production=is_production)
    environment.full_clean()
    environment.save()
    audit_record(
        actor=actor,
        action="environment.create",
        obj=environment,
        after={"feature": feature.slug, "name": name, "is_production": is_production},
    )
    return environment


def _register(
    model_cls: type[ComponentVersion], *, actor, content: dict[str, Any], extra: dict[str, Any] | None = None
) -> tuple[ComponentVersion, bool]:
    """Idempotent: identical content returns the existing version (created=False)."""
    require(actor, "release.register")
    digest = model_cls.hash_content(content)
    existing = model_cls.objects.filter(content_hash=digest).first()
    if existing:
        return existing, False
    version = model_cls(
        content_hash=digest,
        created_by=actor if getattr(actor, "pk", None) else None,
        **content,
        **(extra or {}),
    )
    version.full_clean(exclude=["content_hash"])
    try:
        with transaction.atomic():
            version.save()
    except IntegrityError:
        # Another request registered the same content a moment ago: return theirs.
        return model_cls.objects.get(content_hash=digest), False
    audit_record(
        actor=actor,
        action=f"{model_cls.LAYER.value}_version.register",
        obj=version,
        after={"content_hash": digest, **_jsonable(version.content())},
    )
    return version, True


def _jsonable(data: dict) -> dict:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in data.items()}


def model_version_register(
    *,
    actor,
    provider: str,
    requested_alias: str,
    resolved_snapshot: str,
    base_model: str = "",
    precision: str = "unknown",
    quantization: str = "",
    decoding_params: dict | None = None,
) -> tuple[ModelVersion, bool]:
    return _register(
        ModelVersion,
        actor=actor,
        content={
            "provider": provider,
            "requested_alias": requested_alias,
            "resolved_snapshot": resolved_snapshot,
            "base_model": base_model,
            "precision": precision,
            "quantization": quantization,
            "decoding_params": decoding_params or {},
        },
    )


def prompt_version_register(
    *,
    actor,
    name: str,
    system_prompt: str = "",
    template: str = "",
    variables: list | None = None,
    author: str = "",
    message: str = "",
) -> tuple[PromptVersion, bool]:
    return _register(
        PromptVersion,
        actor=actor,
        content={
            "name": name,
            "system_prompt": system_prompt,
            "template": template,
            "variables": variables or [],
        },
        extra={"author": author, "message": message},
    )


def adapter_version_register(
    *,
    actor,
    name: str,
    base_model: str,
    rank: int,
    alpha: float,
    merge_method: str = "none",
    digest: str,
    training_corpus_ref: str = "",
) -> tuple[AdapterVersion, bool]:
    return _register(
        AdapterVersion,
        actor=actor,
        content={
            "name": name,
            "base_model": base_model,
            "rank": rank,
            "alpha": float(alpha),
            "merge_method": merge_method,
            "digest": digest,
            "training_corpus_ref": training_corpus_ref,
        },
    )


def index_version_register(
    *,
    actor,
    name: str,
    embedding_model: str,
    embedding_model_version: str = "",
    dimension: int,
    corpus_snapshot: str,
    document_count: int,
    built_at: datetime,
) -> tuple[IndexVersion, bool]:
    if timezone.is_naive(built_at):
        raise ValidationError({"built_at": ["Give a timezone, e.g. 2026-01-05T10:00:00Z."]})
    # The same instant written in another timezone is the same content: hash it in UTC.
    built_at = built_at.astimezone(UTC)
    return _register(
        IndexVersion,
        actor=actor,
        content={
            "name": name,
            "embedding_model": embedding_model,
            "embedding_model_version": embedding_model_version,
            "dimension": dimension,
            "corpus_snapshot": corpus_snapshot,
            "document_count": document_count,
            "built_at": built_at,
        },
    )


def _refuse_or_override(violations: list[Violation], *, actor, override_reason: str) -> None:
    """Violations are refused unless an approver overrides them with a written reason."""
    if not violations:
        return
    messages = [v.message for v in violations]
    if not override_reason.strip():
        raise ValidationError({"compatibility": messages})
    if not can(actor, "compatibility.override"):
        raise ValidationError({"compatibility": [*messages, "Only an approver may override compatibility checks."]})


@transaction.atomic
def release_create(
    *,
    actor,
    feature: Feature,
    model: ModelVersion,
    prompt: PromptVersion,
    adapters: list[AdapterVersion] | None = None,
    index: IndexVersion | None = None,
    query_encoder: str = "",
    notes: str = "",
    source: str = Source.WEB,
    parent: Release | None = None,
    override_reason: str = "",
) -> tuple[Release, bool]:
    """Create the next numbered release of a feature, or return the existing release with the same manifest
    (idempotent, so CI pipelines can call it blindly). Refuses incompatible manifests unless an approver overrides."""
    require(actor, "release.register")
    adapters = list(adapters or [])
    if parent is not None and parent.feature_id != feature.pk:
        raise ValidationError({"parent": [f"Release {parent} belongs to another feature than {feature}."]})
    if len({a.pk for a in adapters}) != len(adapters):
        raise ValidationError({"adapters": ["An adapter appears twice in the list."]})
    digest = manifest_hash_of(model=model, prompt=prompt, adapters=adapters, index=index, query_encoder=query_encoder)
    # Lock the feature row first, so that concurrent identical requests cannot both miss the existing release,
    # and concurrent different ones get consecutive numbers.
    Feature.objects.select_for_update().get(pk=feature.pk)
    existing = Release.objects.filter(feature=feature, manifest_hash=digest).order_by("-number").first()
    if existing is not None:
        return existing, False
    latest = Release.objects.filter(feature=feature).select_related("model").order_by("-number").first()

    violations = check_manifest(model=model, adapters=adapters, index=index, query_encoder=query_encoder)
    _refuse_or_override(violations, actor=actor, override_reason=override_reason)

    number = (latest.number if latest else 0) + 1
    release = Release.objects.create(
        feature=feature,
        number=number,
        model=model,
        prompt=prompt,
        index=index,
        query_encoder=query_encoder,
        manifest_hash=digest,
        author=actor if getattr(actor, "pk", None) else None,
        notes=notes,
        source=source,
        parent=parent,
        compatibility_override_reason=override_reason.strip() if violations else "",
    )
    ReleaseAdapter.objects.bulk_create(
        ReleaseAdapter(release=release, adapter=a, position=i) for i, a in enumerate(adapters)
    )
    audit_record(actor=actor, action="release.create", obj=release, after=release_manifest(release))
    if violations:
        audit_record(
            actor=actor,
            action="compatibility.override",
            obj=release,
            after={"violations": [v.code for v in violations]},
            reason=override_reason,
        )

    stale_reason = baseline_staleness(latest.model if latest else None, model)
    if stale_reason:
        feature_mark_baseline_stale(actor=actor, feature=feature, reason=f"Release #{number}: {stale_reason}")
    return release, True


def feature_mark_baseline_stale(*, actor, feature: Feature, reason: str) -> None:
    before = {
        "eval_baseline_stale": feature.eval_baseline_stale,
        "reason": feature.eval_baseline_stale_reason,
    }
    Feature.objects.filter(pk=feature.pk).update(eval_baseline_stale=True, eval_baseline_stale_reason=reason)
    feature.eval_baseline_stale, feature.eval_baseline_stale_reason = True, reason
    audit_record(
        actor=actor,
        action="feature.baseline_stale",
        obj=feature,
        before=before,
        after={"eval_baseline_stale": True, "reason": reason},
    )


@transaction.atomic
def deployment_record(
    *,
    actor,
    environment: Environment,
    release: Release,
    live_at: datetime | None = None,
    via: str = Source.WEB,
    is_rollback: bool = False,
    rollout_run_id: int | None = None,
    override_reason: str = "",
    notes: str = "",
) -> DeploymentEvent:
    """Record that a release became live in an environment. Compatibility is checked again here, so a
    rollback to an old, now-incompatible release is refused too (unless an approver overrides)."""
    require(actor, "deployment.record")
    if release.feature_id != environment.feature_id:
        raise ValidationError({"release": [f"Release {release} belongs to another feature than {environment}."]})
    live_at = live_at or timezone.now()
    if timezone.is_naive(live_at):
        raise ValidationError({"live_at": ["Give a timezone, e.g. 2026-01-05T10:00:00Z."]})
    # Going back to an older release than the one live at that moment is a rollback, whatever the caller says.
    current = live_release_at(environment, live_at)
    is_rollback = is_rollback or bool(current and current.number > release.number)
    if is_rollback and rollout_run_id is None:
        # A run checked the rollback rule when it started; a deployment recorded by hand is checked here.
        rollback_require(actor=actor, environment=environment, current=current, target=release)
    violations = check_manifest(
        model=release.model,
        adapters=release.ordered_adapters(),
        index=release.index,
        query_encoder=release.query_encoder,
    )
    _refuse_or_override(violations, actor=actor, override_reason=override_reason)
    event = DeploymentEvent.objects.create(
        environment=environment,
        release=release,
        live_at=live_at,
        actor=actor if getattr(actor, "pk", None) else None,
        via=via,
        is_rollback=is_rollback,
        rollout_run_id=rollout_run_id,
        override_reason=override_reason.strip() if violations else "",
        notes=notes,
    )
    audit_record(
        actor=actor,
        action="deployment.record",
        obj=event,
        after={
            "environment": str(environment),
            "release": release.number,
            "live_at": event.live_at.isoformat(),
            "via": via,
            "is_rollback": is_rollback,
        },
        reason=override_reason if violations else "",
    )
    deployment_recorded.send(sender=DeploymentEvent, event=event)
    return event


def release_manifest(release: Release) -> dict:
    """The manifest as gateways and the API see it."""
    return {
        "feature": release.feature.slug,
        "number": release.number,
        "manifest_hash": release.manifest_hash,
        "model": {"id": release.model_id, **release.model.content()},
        "prompt": {
            "id": release.prompt_id,
            "name": release.prompt.name,
            "content_hash": release.prompt.content_hash,
        },
        "adapters": [
            {"id": a.pk, "name": a.name, "digest": a.digest, "base_model": a.base_model}
            for a in release.ordered_adapters()
        ],
        "index": (
            {
                "id": release.index_id,
                "name": release.index.name,
                "encoder": release.index.encoder,
                "corpus_snapshot": release.index.corpus_snapshot,
            }
            if release.index
            else None
        ),
        "query_encoder": release.query_encoder,
    }
