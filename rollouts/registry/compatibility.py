"""Compatibility rules between the parts of a release. One place; used on release creation and on every
deployment, rollback targets included."""

from __future__ import annotations

from dataclasses import dataclass

from rollouts.registry.models import AdapterVersion, IndexVersion, ModelVersion


@dataclass(frozen=True)
class Violation:
    code: str
    message: str


def check_manifest(
    *, model: ModelVersion, adapters: list[AdapterVersion], index: IndexVersion | None, query_encoder: str
) -> list[Violation]:
    violations: list[Violation] = []
    if index is not None:
        if not query_encoder:
            violations.append(
                Violation(
                    "index_without_encoder",
                    f"Index {index.name} needs a query encoder; set it to {index.encoder!r}.",
                )
            )
        elif index.encoder != query_encoder:
            violations.append(
                Violation(
                    "index_encoder_mismatch",
                    f"Index {index.name} was embedded with {index.encoder!r} but queries are encoded with "
                    f"{query_encoder!r}; retrieval would compare vectors from different spaces.",
                )
            )
    base = model.effective_base_model
    for adapter in adapters:
        if adapter.base_model != base:
            violations.append(
                Violation(
                    "adapter_base_mismatch",
                    f"Adapter {adapter.name} was trained on {adapter.base_model!r} but the model's base is {base!r}.",
                )
            )
    return violations


def baseline_staleness(previous: ModelVersion | None, current: ModelVersion) -> str:
    """Why the feature's eval baseline no longer describes what serves, or '' if it still does."""
    if previous is None or previous.pk == current.pk:
        return ""
    reasons = []
    if previous.precision != current.precision or previous.quantization != current.quantization:
        reasons.append(
            f"precision changed from {previous.precision}{'/' + previous.quantization if previous.quantization else ''}"
            f" to {current.precision}{'/' + current.quantization if current.quantization else ''}"
        )
    if previous.requested_alias == current.requested_alias and previous.resolved_snapshot != current.resolved_snapshot:
        reasons.append(
            f"alias {current.requested_alias!r} now resolves to {current.resolved_snapshot!r} "
            f"(was {previous.resolved_snapshot!r})"
        )
    return "; ".join(reasons)
