from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError

from core.models import AuditEntry
from rollouts.models import DeploymentEvent, Release
from rollouts.registry import services
from tests.rollouts.conftest import T0, adapter_v, index_v, make_release, model_v, prompt_v


def test_an_index_embedded_with_another_model_than_the_query_encoder_is_refused(responder, feature):
    with pytest.raises(ValidationError) as err:
        make_release(responder, feature, query_encoder="text-embedding-3-small")
    assert "embedded with 'bge-small-en@1.5'" in str(err.value)
    assert Release.objects.count() == 0


def test_an_index_without_query_encoder_is_refused(responder, feature):
    with pytest.raises(ValidationError, match="needs a query encoder"):
        make_release(responder, feature, query_encoder="")


def test_an_adapter_trained_on_another_base_model_is_refused(responder, feature):
    adapter = adapter_v(responder, base_model="mistralai/Mistral-7B-v0.3")
    with pytest.raises(ValidationError, match=r"trained on 'mistralai/Mistral-7B-v0\.3'"):
        make_release(responder, feature, adapters=[adapter])
    assert Release.objects.count() == 0


def test_an_adapter_matches_the_declared_base_of_a_quantized_model(responder, feature):
    model = model_v(
        responder,
        resolved_snapshot="hugging-quants/Meta-Llama-3.1-8B-Instruct-AWQ-INT4",
        base_model="meta-llama/Llama-3.1-8B-Instruct",
        precision="int4",
        quantization="AWQ",
    )
    release = make_release(responder, feature, model=model, adapters=[adapter_v(responder)])
    assert release.number == 1


def test_an_approver_may_override_with_a_written_reason_which_is_audited(approver, feature):
    release = make_release(
        approver, feature, query_encoder="bge-small-en@1.4", override_reason="1.4 and 1.5 share weights; verified"
    )
    assert release.compatibility_override_reason == "1.4 and 1.5 share weights; verified"
    entry = AuditEntry.objects.get(action="compatibility.override", object_id=str(release.pk))
    assert entry.actor == approver
    assert entry.reason == "1.4 and 1.5 share weights; verified"
    assert entry.after == {"violations": ["index_encoder_mismatch"]}


def test_an_approver_without_a_reason_is_refused(approver, feature):
    with pytest.raises(ValidationError, match="queries are encoded with"):
        make_release(approver, feature, query_encoder="bge-small-en@1.4", override_reason="  ")


def test_a_responder_cannot_override(responder, feature):
    with pytest.raises(ValidationError, match="Only an approver may override"):
        make_release(responder, feature, query_encoder="bge-small-en@1.4", override_reason="trust me")
    assert Release.objects.count() == 0


def test_the_api_refuses_with_the_message_and_lets_an_approver_override(api_as, responder, approver, feature):
    model, prompt, index = model_v(responder), prompt_v(responder), index_v(responder)
    body = {"feature": feature.slug, "model": model.pk, "prompt": prompt.pk, "index": index.pk, "query_encoder": "e5"}
    refused = api_as(responder).post("/api/v1/releases/", {**body, "override_reason": "please"}, format="json")
    assert refused.status_code == 400
    assert any("queries are encoded with 'e5'" in m for m in refused.json()["compatibility"])
    assert "Only an approver may override compatibility checks." in refused.json()["compatibility"]
    accepted = api_as(approver).post("/api/v1/releases/", {**body, "override_reason": "e5 eval passed"}, format="json")
    assert accepted.status_code == 201, accepted.json()
    assert accepted.json()["compatibility_override_reason"] == "e5 eval passed"


def test_deploying_an_incompatible_release_is_refused_even_as_a_rollback(approver, responder, feature, staging):
    bad = make_release(approver, feature, query_encoder="e5", override_reason="experiment on staging only")
    with pytest.raises(ValidationError, match="queries are encoded with 'e5'"):
        services.deployment_record(actor=responder, environment=staging, release=bad, live_at=T0)
    good = make_release(responder, feature, prompt=prompt_v(responder, system_prompt="v2"))
    services.deployment_record(actor=responder, environment=staging, release=good, live_at=T0)
    with pytest.raises(ValidationError, match="Only an approver may override"):
        services.deployment_record(
            actor=responder,
            environment=staging,
            release=bad,
            live_at=T0 + timedelta(hours=1),
            override_reason="roll back",
        )
    assert DeploymentEvent.objects.count() == 1
    event = services.deployment_record(
        actor=approver, environment=staging, release=bad, live_at=T0 + timedelta(hours=1), override_reason="known ok"
    )
    assert event.is_rollback, "going back to an older release is a rollback"
    assert event.override_reason == "known ok"


def test_deploying_through_the_api_checks_compatibility(api_as, approver, responder, feature):
    bad = make_release(approver, feature, query_encoder="e5", override_reason="staging experiment")
    body = {"feature": feature.slug, "environment": "staging", "release": bad.pk, "live_at": "2026-03-02T09:00:00Z"}
    refused = api_as(responder).post("/api/v1/deployments/", body, format="json")
    assert refused.status_code == 400
    assert "compatibility" in refused.json()
    ok = api_as(approver).post("/api/v1/deployments/", {**body, "override_reason": "staging only"}, format="json")
    assert ok.status_code == 201, ok.json()
    assert ok.json()["override_reason"] == "staging only"


def test_a_precision_change_marks_the_eval_baseline_stale(responder, feature):
    make_release(responder, feature)
    assert not feature.eval_baseline_stale
    int4 = model_v(responder, precision="int4", quantization="AWQ", base_model="meta-llama/Llama-3.1-8B-Instruct")
    release = make_release(responder, feature, model=int4)
    feature.refresh_from_db()
    assert feature.eval_baseline_stale
    assert f"Release #{release.number}: precision changed from bf16 to int4/AWQ" in feature.eval_baseline_stale_reason
    assert AuditEntry.objects.filter(action="feature.baseline_stale", object_id=str(feature.pk)).exists()


def test_an_alias_resolving_to_a_new_snapshot_marks_the_eval_baseline_stale(responder, feature):
    old = model_v(responder, provider="openai", requested_alias="gpt-4o", resolved_snapshot="gpt-4o-2024-05-13")
    new = model_v(responder, provider="openai", requested_alias="gpt-4o", resolved_snapshot="gpt-4o-2024-08-06")
    make_release(responder, feature, model=old)
    make_release(responder, feature, model=new)
    feature.refresh_from_db()
    assert "alias 'gpt-4o' now resolves to 'gpt-4o-2024-08-06'" in feature.eval_baseline_stale_reason


def test_a_prompt_change_leaves_the_eval_baseline_alone(responder, feature):
    make_release(responder, feature)
    make_release(responder, feature, prompt=prompt_v(responder, system_prompt="Shorter."))
    feature.refresh_from_db()
    assert not feature.eval_baseline_stale


def test_rolling_back_production_needs_an_approver(responder, approver, feature, production):
    first = make_release(responder, feature)
    second = make_release(responder, feature, prompt=prompt_v(responder, system_prompt="v2"))
    services.deployment_record(actor=approver, environment=production, release=first, live_at=T0)
    services.deployment_record(actor=approver, environment=production, release=second, live_at=T0 + timedelta(1))
    with pytest.raises(Exception, match="approver role"):
        services.deployment_record(
            actor=responder, environment=production, release=first, live_at=T0 + timedelta(days=2)
        )
    event = services.deployment_record(
        actor=approver, environment=production, release=first, live_at=T0 + timedelta(days=2)
    )
    assert event.is_rollback
