"""Registry writes check their role in the service itself, so every door (web, API, CI scripts, the demo
loader) meets the same rule; work nobody clicked names a system actor and is audited under it."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied

from core.actors import system_actor
from core.audit import audit_record
from core.models import AuditEntry
from rollouts.models import ComponentVersion, DeploymentEvent, Environment, Feature, Release
from rollouts.registry import services
from tests.rollouts.factories import deploy, feature_with_envs, release

pytestmark = pytest.mark.django_db


def _counts() -> tuple:
    return (
        Feature.objects.count(),
        Environment.objects.count(),
        sum(m.objects.count() for m in ComponentVersion.__subclasses__()),
        Release.objects.count(),
        DeploymentEvent.objects.count(),
        AuditEntry.objects.count(),
    )


WRITES = {
    "feature_create": lambda actor, w: services.feature_create(actor=actor, slug="new", name="New", team=w["team"]),
    "environment_create": lambda actor, w: services.environment_create(actor=actor, feature=w["feature"], name="qa"),
    "model_version_register": lambda actor, w: services.model_version_register(
        actor=actor, provider="openai", requested_alias="gpt-x", resolved_snapshot="gpt-x-1"
    ),
    "prompt_version_register": lambda actor, w: services.prompt_version_register(actor=actor, name="p", template="t"),
    "release_create": lambda actor, w: services.release_create(
        actor=actor, feature=w["feature"], model=w["r1"].model, prompt=w["r1"].prompt, notes="again", query_encoder="x"
    ),
    "deployment_record": lambda actor, w: services.deployment_record(
        actor=actor, environment=w["staging"], release=w["r1"]
    ),
}
# The least role each write needs (core/permissions.py), and one role below it.
NEEDS = {
    "feature_create": ("admin_user", "approver"),
    "environment_create": ("admin_user", "approver"),
    "model_version_register": ("responder", "viewer"),
    "prompt_version_register": ("responder", "viewer"),
    "release_create": ("responder", "viewer"),
    "deployment_record": ("responder", "viewer"),
}


@pytest.fixture
def world(team, approver):
    feature, staging, _production = feature_with_envs(team)
    r1 = release(approver, feature, prompt="v1")
    return {"team": team, "feature": feature, "staging": staging, "r1": r1}


@pytest.mark.parametrize("write", sorted(WRITES))
def test_a_registry_write_below_its_role_is_refused_and_stores_nothing(request, world, write):
    _enough, below = NEEDS[write]
    before = _counts()
    with pytest.raises(PermissionDenied):
        WRITES[write](request.getfixturevalue(below), world)
    assert _counts() == before


@pytest.mark.parametrize("write", sorted(WRITES))
def test_a_registry_write_with_its_role_goes_through(request, world, write):
    enough, _below = NEEDS[write]
    WRITES[write](request.getfixturevalue(enough), world)


@pytest.mark.parametrize("write", sorted(WRITES))
def test_no_actor_is_no_permission(world, write):
    before = _counts()
    with pytest.raises(PermissionDenied):
        WRITES[write](None, world)
    assert _counts() == before


def test_system_work_is_audited_under_its_job(world):
    services.environment_create(actor=system_actor("demo data"), feature=world["feature"], name="qa")
    entry = AuditEntry.objects.get(action="environment.create", after__name="qa")
    assert (entry.actor, entry.actor_label) == (None, "system:demo data")


def test_an_audit_entry_without_an_actor_is_refused(world, approver):
    with pytest.raises(ValueError, match="names its actor"):
        audit_record(actor=None, action="x", obj=world["feature"])


def test_the_rollout_engine_records_deployments_under_its_name(world):
    from rollouts.runs.services import ENGINE

    deploy(ENGINE, world["staging"], world["r1"])
    entry = AuditEntry.objects.filter(action="deployment.record").latest("id")
    assert entry.actor_label == "system:rollout engine"
