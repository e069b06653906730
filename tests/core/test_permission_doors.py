"""Every rule of the permission table, through every door that reaches it (web page, API, Slack, and the one
door of the rules no page asks for: Django admin, /metrics).

For each door: the role just below the rule's minimum is refused the way that door refuses (the 403 page, a 403
JSON ``detail``, an ephemeral Slack reply), naming the role, and nothing is written; the rule's own role
succeeds and writes. The doors only authenticate: the refusal comes from the service the door calls.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token

from core.models import AuditEntry, Role, User
from core.permissions import RULES
from diagnostics.models import BehaviourReport, GenerationEndpoint, LayerOwner, PromptSetVersion, ReportLink
from diagnostics.reports import services as report_services
from diagnostics.reports.runner import RUNNER, summarise
from diagnostics.services import layer_set_verdict, ownership_map_set
from incidents import postmortem_services
from incidents import services as incident_services
from incidents.models import (
    POSTMORTEM_TEXT_FIELDS,
    ActionItem,
    AlertSource,
    ChangeEvent,
    Incident,
    Postmortem,
    PostmortemRevision,
    TimelineEvent,
)
from rollouts.impact.models import DependentWorkflow, ImpactWaiver
from rollouts.judging.models import Observation
from rollouts.models import DeploymentEvent, Feature, Release, RolloutRun, WebhookTarget
from rollouts.registry import services as registry
from rollouts.runs import services as runs
from rollouts.runs.change_events.models import ChangeEventTarget
from slackbot.rollback_commands import plan_message
from tests.conftest import api_client_for
from tests.diagnostics.reports.conftest import cases, contract_result, jsonl, outputs, upload
from tests.rollouts.integrations.test_otlp_intake import _json_request, _json_span
from tests.slackbot.conftest import celery_eager, fake_slack, slack, slack_settings  # noqa: F401 (fixtures)
from tests.slackbot.test_incident_modal import _submission
from tests.slackbot.test_rollback import _confirm_payload
from tests.slackbot.world import feature_with_two_releases

pytestmark = pytest.mark.django_db

SLUG = "support-assistant"
SLACK_IDS = {"viewer": "UVERA", "responder": "URAFA", "approver": "UANA", "admin_user": "UADA"}
ROLE_FIXTURES = {
    Role.VIEWER: "viewer",
    Role.RESPONDER: "responder",
    Role.APPROVER: "approver",
    Role.ADMIN: "admin_user",
}
LADDER = [None, Role.VIEWER, Role.RESPONDER, Role.APPROVER, Role.ADMIN]


# --- the world the doors act on, built through the services ---------------------------------------------------


@pytest.fixture
def world(viewer, responder, approver, admin_user):
    people = {"viewer": viewer, "responder": responder, "approver": approver, "admin_user": admin_user}
    for name, user in people.items():
        user.slack_user_id = SLACK_IDS[name]
        user.save(update_fields=["slack_user_id"])
    base = feature_with_two_releases(admin_user, slug=SLUG)
    for layer in ("model", "data", "prompt", "product"):
        ownership_map_set(actor=admin_user, feature=base.feature, layer=layer, owner=responder)
    prompt, _ = registry.prompt_version_register(actor=admin_user, name="support", system_prompt="Be brief.\nv3")
    r3, _ = registry.release_create(actor=admin_user, feature=base.feature, model=base.r2.model, prompt=prompt)
    incident = incident_services.incident_open(
        actor=responder,
        title="Answers stopped citing sources",
        severity="sev2",
        feature_environments=[base.production],
        commander=responder,
    )
    Incident.objects.filter(pk=incident.pk).update(slack_channel_id="CINC")
    return SimpleNamespace(**vars(base), r3=r3, incident=incident, admin=admin_user, responder=responder)


def _publishable_postmortem(w) -> Postmortem:
    for d in w.incident.layer_diagnoses.all():
        verdict = "root_cause" if d.layer == "prompt" else "ruled_out"
        layer_set_verdict(actor=w.admin, diagnosis=d, status=verdict)
    postmortem = postmortem_services.postmortem_start(actor=w.admin, incident=w.incident)
    postmortem_services.postmortem_update(
        actor=w.admin, postmortem=postmortem, summary="Citations dropped.", root_cause="The prompt edit of #2."
    )
    return postmortem_services.postmortem_submit(actor=w.admin, postmortem=postmortem)


def _report(w, *, finished: bool = True) -> BehaviourReport:
    version = report_services.prompt_set_import(
        actor=w.responder, name="golden", file=io.BytesIO(jsonl(cases())), filename="cases.jsonl"
    )
    report = report_services.report_request(
        actor=w.responder,
        prompt_set_version=version,
        release_a=w.r1,
        release_b=w.r2,
        outputs_a=report_services.OutputFile(io.BytesIO(jsonl(outputs())), "a.jsonl"),
        outputs_b=report_services.OutputFile(io.BytesIO(jsonl(outputs())), "b.jsonl"),
    )
    if finished:
        report_services.report_transition(actor=RUNNER, report=report, old="queued", new="running")
        result = contract_result()
        report_services.report_transition(
            actor=RUNNER,
            report=report,
            old="running",
            new="succeeded",
            result=result,
            summary=summarise(result),
            verdict=result["verdict"],
            progress=1.0,
        )
    return report


def _run(w) -> RolloutRun:
    return runs.run_start(
        actor=w.admin,
        environment=w.staging,
        candidate_release=w.r3,
        steps=[{"type": "weight", "weight": 10}, {"type": "pause"}, {"type": "weight", "weight": 100}],
    )


def _workflow(w) -> DependentWorkflow:
    from rollouts.impact.services import dependent_workflow_add

    return dependent_workflow_add(actor=w.admin, environment=w.production, release=w.r2, workflow_id="invoices")


def _observation(w) -> dict:
    return {
        "feature": SLUG,
        "environment": "staging",
        "release": w.r2.number,
        "time": (timezone.now() - dt.timedelta(minutes=1)).isoformat(),
        "latency_ms": 120.0,
    }


# --- doors ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Door:
    """One way to ask for ``action``. ``send(ctx)`` makes the request as ``ctx.user`` (None: anonymous) and
    returns what the door answered; ``written(world)`` is the state the request changes when it succeeds."""

    action: str
    via: str  # web | api | slack | admin | metrics
    name: str
    send: Callable[[Any], Any]
    written: Callable[[Any], Any] | None = None
    prepare: Callable[[Any], Any] | None = None  # state the door needs, built before either request
    refused_status: int = 403
    refused_says: str = ""  # default: "the <role> role"

    def __str__(self) -> str:
        return f"{self.action}:{self.via}:{self.name}"


def web(action, name, path, data=None, *, written=None, prepare=None, method="post", **kw) -> Door:
    def send(ctx):
        client = Client()
        if ctx.user is not None:
            client.force_login(ctx.user)
        body = data(ctx.w) if callable(data) else (data or {})
        return getattr(client, method)(path(ctx.w) if callable(path) else path, body)

    return Door(action, "web", name, send, written, prepare, **kw)


def api(action, name, path, body=None, *, written=None, prepare=None, method="post", fmt="json", **kw) -> Door:
    def send(ctx):
        client = api_client_for(ctx.user)
        payload = body(ctx.w) if callable(body) else (body or {})
        url = path(ctx.w) if callable(path) else path
        return client.get(url) if method == "get" else getattr(client, method)(url, payload, format=fmt)

    return Door(action, "api", name, send, written, prepare, **kw)


def slack_command(action, name, text, *, command="/incident", channel="CINC", written=None, prepare=None) -> Door:
    def send(ctx):
        return ctx.slack().command(text, user_id=ctx.slack_id, command=command, channel_id=channel)

    return Door(action, "slack", name, send, written, prepare)


def slack_interaction(action, name, payload, *, written=None, prepare=None) -> Door:
    def send(ctx):
        return ctx.slack().interact(payload(ctx))

    return Door(action, "slack", name, send, written, prepare)


def _confirm(env_name):
    def payload(ctx):
        plan = plan_message(f"{SLUG} {env_name}")
        assert "blocks" in plan, plan
        return _confirm_payload(plan, ctx.slack_id, ctx.slack().fake.url)

    return payload


def count(model, **filters):
    return lambda w: model.objects.filter(**filters).count()


def incident_field(name):
    return lambda w: getattr(Incident.objects.get(pk=w.incident.pk), name)


def layer(name):
    return lambda w: w.incident.layer_diagnoses.get(layer=name)


INC = "/api/v1/incidents"


DOORS: list[Door] = [
    # view: reading needs a signed-in user; the doors check it (no service reads for them)
    web("view", "incident list", "/incidents/", method="get", refused_status=302),
    api("view", "incident list", f"{INC}/", method="get", refused_status=401),
    slack_command("view", "/rollback status", "status", command="/rollback", channel="COPS"),
    # the release registry
    api(
        "release.register",
        "POST /releases/",
        "/api/v1/releases/",
        lambda w: {"feature": SLUG, "model": w.r2.model_id, "prompt": w.p4.pk},
        prepare=lambda w: setattr(
            w, "p4", registry.prompt_version_register(actor=w.admin, name="support", system_prompt="v4")[0]
        ),
        written=count(Release),
    ),
    api(
        "deployment.record",
        "POST /deployments/",
        "/api/v1/deployments/",
        lambda w: {"feature": SLUG, "environment": "staging", "release": w.r3.pk},
        written=count(DeploymentEvent),
    ),
    web(
        "deployment.record",
        "POST deployment form",
        f"/features/{SLUG}/deployments/new/",
        lambda w: {"environment": w.staging.pk, "release": w.r3.pk},
        written=count(DeploymentEvent),
    ),
    api(
        "feature.manage",
        "POST /features/",
        "/api/v1/features/",
        lambda w: {"slug": "other", "name": "Other", "team": w.feature.team.slug},
        written=count(Feature),
    ),
    api(
        "compatibility.override",
        "POST /releases/ with an override",
        "/api/v1/releases/",
        lambda w: {
            "feature": SLUG,
            "model": w.r2.model_id,
            "prompt": w.r1.prompt_id,
            "index": w.index.pk,
            "query_encoder": "bge-small-en@1.4",
            "override_reason": "eval passed",
        },
        prepare=lambda w: setattr(
            w,
            "index",
            registry.index_version_register(
                actor=w.admin,
                name="kb",
                embedding_model="e5",
                embedding_model_version="2",
                dimension=768,
                corpus_snapshot="2026-11-01",
                document_count=10,
                built_at=timezone.now(),
            )[0],
        ),
        written=count(Release),
        refused_status=400,
        refused_says="Only an approver may override",
    ),
    # incidents
    web(
        "incident.create",
        "POST /incidents/new/",
        "/incidents/new/",
        lambda w: {"title": "Latency doubled", "severity": "sev3", "feature_environments": [w.staging.pk]},
        written=count(Incident),
    ),
    api(
        "incident.create",
        "POST /incidents/",
        "/api/v1/incidents/",
        {"title": "Latency doubled", "severity": "sev3", "feature_environments": [f"{SLUG}/staging"]},
        written=count(Incident),
    ),
    slack_interaction(
        "incident.create",
        "modal submission",
        lambda ctx: _submission(ctx.slack_id, channel=False),
        written=count(Incident),
    ),
    web(
        "incident.update",
        "POST notes",
        lambda w: f"/incidents/{w.incident.pk}/notes/",
        {"text": "Seen in EU only"},
        written=count(TimelineEvent, kind="note"),
    ),
    web(
        "incident.update",
        "POST transition",
        lambda w: f"/incidents/{w.incident.pk}/transition/",
        {"to_status": "investigating", "reason": "on it"},
        written=incident_field("status"),
    ),
    api(
        "incident.update",
        "POST notes",
        lambda w: f"{INC}/{w.incident.pk}/notes/",
        {"text": "Seen in EU only"},
        written=count(TimelineEvent, kind="note"),
    ),
    api(
        "incident.update",
        "PATCH incident",
        lambda w: f"{INC}/{w.incident.pk}/",
        {"title": "Citations gone"},
        method="patch",
        written=incident_field("title"),
    ),
    slack_command(
        "incident.update", "/incident note", "note Seen in EU only", written=count(TimelineEvent, kind="note")
    ),
    slack_command("incident.update", "/incident status", "status investigating", written=incident_field("status")),
    web(
        "diagnosis.update",
        "POST verdict",
        lambda w: f"/diagnoses/{layer('data')(w).pk}/verdict/",
        {"status": "investigating"},
        written=lambda w: layer("data")(w).status,
    ),
    api(
        "diagnosis.update",
        "POST verdict",
        lambda w: f"/api/v1/layer-diagnoses/{layer('data')(w).pk}/verdict/",
        {"status": "investigating"},
        written=lambda w: layer("data")(w).status,
    ),
    slack_command(
        "diagnosis.update", "/incident owner", "owner data <@UANA|ana>", written=lambda w: layer("data")(w).owner_id
    ),
    web(
        "ownership.manage",
        "POST /ownership/set/",
        "/ownership/set/",
        lambda w: {"feature": SLUG, "layer": "model", "owner": w.admin.pk},
        written=lambda w: LayerOwner.objects.get(feature=w.feature, layer="model").owner_id,
    ),
    api(
        "ownership.manage",
        "POST /ownership/",
        "/api/v1/ownership/",
        {"feature": SLUG, "layer": "model", "owner": "ada"},
        written=lambda w: LayerOwner.objects.get(feature=w.feature, layer="model").owner_id,
    ),
    web(
        "postmortem.edit",
        "POST postmortem",
        lambda w: f"/incidents/{w.incident.pk}/postmortem/",
        dict.fromkeys(POSTMORTEM_TEXT_FIELDS, "Citations dropped after the prompt edit."),
        written=count(Postmortem),
    ),
    api(
        "postmortem.edit",
        "POST /postmortems/start/",
        lambda w: f"/api/v1/postmortems/start/{w.incident.pk}/",
        written=count(Postmortem),
    ),
    web(
        "postmortem.publish",
        "POST publish",
        lambda w: f"/incidents/{w.incident.pk}/postmortem/publish/",
        prepare=_publishable_postmortem,
        written=count(PostmortemRevision),
    ),
    api(
        "postmortem.publish",
        "POST publish",
        lambda w: f"/api/v1/postmortems/{Postmortem.objects.get(incident=w.incident).pk}/publish/",
        prepare=_publishable_postmortem,
        written=count(PostmortemRevision),
    ),
    web(
        "action_item.edit",
        "POST action item",
        lambda w: f"/incidents/{w.incident.pk}/action-items/",
        lambda w: {
            "title": "Pin the prompt",
            "owner": w.responder.pk,
            "due_date": (timezone.localdate() + dt.timedelta(days=7)).isoformat(),
            "layer": "prompt",
            "priority": "p2",
            "kind": "corrective",
        },
        written=count(ActionItem),
    ),
    api(
        "action_item.edit",
        "POST /action-items/",
        "/api/v1/action-items/",
        lambda w: {
            "incident": w.incident.pk,
            "title": "Pin the prompt",
            "owner": "rafa",
            "due_date": (timezone.localdate() + dt.timedelta(days=7)).isoformat(),
            "layer": "prompt",
        },
        written=count(ActionItem),
    ),
    slack_command(
        "action_item.edit",
        "/incident action",
        f"action Pin the prompt <@URAFA|rafa> due {(timezone.localdate() + dt.timedelta(days=7)).isoformat()} "
        "layer prompt",
        written=count(ActionItem),
    ),
    api(
        "change_event.create",
        "POST /change-events/",
        "/api/v1/change-events/",
        lambda w: {
            "layer": "product",
            "title": "Raised the alert threshold",
            "system": "grafana",
            "feature": SLUG,
            "occurred_at": timezone.now().isoformat(),
        },
        written=count(ChangeEvent),
    ),
    # rollouts and rollbacks
    api(
        "rollout.start",
        "POST /runs/",
        "/api/v1/runs/",
        lambda w: {"environment": w.staging.pk, "candidate_release": w.r3.pk},
        written=count(RolloutRun),
    ),
    web(
        "rollout.start",
        "POST /rollouts/new/",
        "/rollouts/new/",
        lambda w: {"environment": w.staging.pk, "candidate_release": w.r3.pk, "preset": "quick"},
        written=count(RolloutRun),
    ),
    web(
        "rollout.control",
        "POST abort",
        lambda w: f"/rollouts/{RolloutRun.objects.get().pk}/abort/",
        {"reason": "wrong build"},
        prepare=_run,
        written=lambda w: RolloutRun.objects.get().state,
    ),
    api(
        "rollout.control",
        "POST abort",
        lambda w: f"/api/v1/runs/{RolloutRun.objects.get().pk}/abort/",
        {"reason": "wrong build"},
        prepare=_run,
        written=lambda w: RolloutRun.objects.get().state,
    ),
    web(
        "rollback.staging",
        "POST rollback",
        f"/features/{SLUG}/staging/rollback/",
        {"to_release": "1", "preset": "immediate", "reason": "answers broke"},
        written=count(RolloutRun),
    ),
    api(
        "rollback.staging",
        "POST /rollbacks",
        "/api/v1/rollbacks",
        {"feature": SLUG, "environment": "staging", "to_release": 1, "reason": "answers broke"},
        written=count(RolloutRun),
    ),
    slack_interaction("rollback.staging", "Confirm button", _confirm("staging"), written=count(RolloutRun)),
    web(
        "rollback.production",
        "POST rollback",
        f"/features/{SLUG}/production/rollback/",
        {"to_release": "1", "preset": "immediate", "reason": "answers broke"},
        written=count(RolloutRun),
    ),
    api(
        "rollback.production",
        "POST /rollbacks",
        "/api/v1/rollbacks",
        {"feature": SLUG, "environment": "production", "to_release": 1, "reason": "answers broke"},
        written=count(RolloutRun),
    ),
    slack_interaction("rollback.production", "Confirm button", _confirm("production"), written=count(RolloutRun)),
    api(
        "webhook.manage",
        "POST /webhook-targets/",
        "/api/v1/webhook-targets/",
        lambda w: {"environment": w.staging.pk, "url": "http://127.0.0.1:9/hook", "secret": "x" * 24},
        written=count(WebhookTarget),
    ),
    api(
        "observation.ingest",
        "POST /observations",
        "/api/v1/observations",
        lambda w: {"records": [_observation(w)]},
        written=count(Observation),
    ),
    Door(
        "observation.ingest",
        "otlp",
        "POST /v1/traces",
        lambda ctx: Client().post(
            "/v1/traces",
            json.dumps(
                _json_request(
                    _json_span(
                        **{
                            "rewind.environment": "staging",
                            "rewind.release": ctx.w.r2.number,
                            "gen_ai.request.model": "m",
                        }
                    )
                )
            ),
            content_type="application/json",
            **(
                {"HTTP_AUTHORIZATION": f"Token {Token.objects.get_or_create(user=ctx.user)[0].key}"} if ctx.user else {}
            ),
        ),
        written=count(Observation),
    ),
    web(
        "impact.review",
        "POST impact add",
        f"/features/{SLUG}/production/impact/add/",
        lambda w: {"release": w.r2.pk, "workflow_id": "weekly-report", "behaviour": "output_format"},
        written=count(DependentWorkflow),
    ),
    api(
        "impact.review",
        "POST /dependent-workflows/",
        "/api/v1/dependent-workflows/",
        lambda w: {"environment": w.production.pk, "release": w.r2.pk, "workflow_id": "weekly-report"},
        written=count(DependentWorkflow),
    ),
    web(
        "impact.waive",
        "POST waive",
        f"/features/{SLUG}/production/impact/waive/",
        lambda w: {"from_release": w.r2.pk, "reason": "emergency"},
        prepare=_workflow,
        written=count(ImpactWaiver),
    ),
    api(
        "impact.waive",
        "POST /impact/waive",
        "/api/v1/impact/waive",
        lambda w: {"environment": w.production.pk, "from_release": w.r2.pk, "reason": "emergency"},
        prepare=_workflow,
        written=count(ImpactWaiver),
    ),
    # behaviour-diff reports
    web(
        "prompt_set.import",
        "POST /prompt-sets/",
        "/prompt-sets/",
        lambda w: {"name": "golden", "file": upload("c.jsonl", jsonl(cases(2)))},
        written=count(PromptSetVersion),
    ),
    api(
        "prompt_set.import",
        "POST /prompt-sets/import/",
        "/api/v1/prompt-sets/import/",
        lambda w: {"name": "golden", "file": upload("c.jsonl", jsonl(cases(2)))},
        fmt="multipart",
        written=count(PromptSetVersion),
    ),
    api(
        "report.create",
        "POST /reports/",
        "/api/v1/reports/",
        lambda w: {
            "prompt_set_version": PromptSetVersion.objects.get().pk,
            "release_a": w.r1.pk,
            "release_b": w.r2.pk,
            "outputs_a": upload("a.jsonl", jsonl(outputs())),
            "outputs_b": upload("b.jsonl", jsonl(outputs())),
        },
        fmt="multipart",
        prepare=lambda w: report_services.prompt_set_import(
            actor=w.responder, name="golden", file=io.BytesIO(jsonl(cases())), filename="cases.jsonl"
        ),
        written=count(BehaviourReport),
    ),
    web(
        "report.cancel",
        "POST cancel",
        lambda w: f"/reports/{BehaviourReport.objects.get().pk}/cancel/",
        {"reason": "wrong set"},
        prepare=lambda w: _report(w, finished=False),
        written=lambda w: BehaviourReport.objects.get().status,
    ),
    api(
        "report.cancel",
        "POST cancel",
        lambda w: f"/api/v1/reports/{BehaviourReport.objects.get().pk}/cancel/",
        {"reason": "wrong set"},
        prepare=lambda w: _report(w, finished=False),
        written=lambda w: BehaviourReport.objects.get().status,
    ),
    web(
        "report.link",
        "POST attach evidence",
        "/reports/attach-evidence/",
        lambda w: {"report": BehaviourReport.objects.get().pk, "incident": w.incident.pk, "layer": "prompt"},
        prepare=_report,
        written=count(ReportLink),
    ),
    api(
        "report.link",
        "POST link",
        lambda w: f"/api/v1/reports/{BehaviourReport.objects.get().pk}/link/",
        lambda w: {
            "object_type": "incidents.incident",
            "object_id": str(w.incident.pk),
            "purpose": "evidence",
            "layer": "prompt",
        },
        prepare=_report,
        written=count(ReportLink),
    ),
    web(
        "generation_endpoint.manage",
        "POST /reports/endpoints/",
        "/reports/endpoints/",
        lambda w: {
            "release": w.r1.pk,
            "base_url": "http://127.0.0.1:9",
            "model": "m",
            "header_env": "{}",
            "temperature": "0",
            "timeout_seconds": "60",
            "max_retries": "4",
            "concurrency": "4",
        },
        written=count(GenerationEndpoint),
    ),
    api(
        "generation_endpoint.manage",
        "POST /generation-endpoints/",
        "/api/v1/generation-endpoints/",
        lambda w: {"release": w.r1.pk, "base_url": "http://127.0.0.1:9", "model": "m", "header_env": {}},
        written=count(GenerationEndpoint),
    ),
    # integrations
    web(
        "alert_source.manage",
        "POST new alert source",
        "/integrations/sources/new/",
        lambda w: {"slug": "am", "kind": "alertmanager", "environment": w.production.pk, "severity": "sev3"},
        written=count(AlertSource),
    ),
    api(
        "alert_source.manage",
        "POST /alert-sources/",
        "/api/v1/alert-sources/",
        {"slug": "am", "kind": "alertmanager", "environment": f"{SLUG}/production"},
        written=count(AlertSource),
    ),
    web(
        "change_event_target.manage",
        "POST new change-event target",
        "/integrations/targets/new/",
        {"name": "sink", "url": "https://cd.example/events", "format": "cdevents"},
        written=count(ChangeEventTarget),
    ),
    api(
        "change_event_target.manage",
        "POST /change-event-targets/",
        "/api/v1/change-event-targets/",
        {"name": "sink", "url": "https://cd.example/events", "format": "cdevents"},
        written=count(ChangeEventTarget),
    ),
    # rules with one door of their own
    Door("metrics.read", "metrics", "GET /metrics", lambda ctx: api_client_for(ctx.user).get("/metrics")),
    Door("admin", "admin", "GET /admin/", lambda ctx: _admin_client(ctx.user).get("/admin/"), refused_status=302),
]


def _admin_client(user):
    client = Client()
    if user is not None:
        User.objects.filter(pk=user.pk).update(is_staff=True)  # staff may sign in to the admin; the rule decides
        client.force_login(User.objects.get(pk=user.pk))
    return client


READ_RULES = {"view", "metrics.read", "admin"}


# --- the checks ------------------------------------------------------------------------------------------------


def _below(action: str):
    return LADDER[LADDER.index(RULES[action]) - 1]


def _context(request, w, role):
    fixture = ROLE_FIXTURES.get(role)
    return SimpleNamespace(
        w=w,
        user=request.getfixturevalue(fixture) if fixture else None,
        slack_id=SLACK_IDS[fixture] if fixture else "UNOBODY",
        slack=lambda: request.getfixturevalue("slack"),
    )


def _slack_text(door: Door, ctx, response) -> str:
    """What the Slack user was told: the command's ephemeral reply, the modal's field error, or the message
    posted to the response_url of a button."""
    assert response.status_code == 200, response.content
    body = response.json() if response.content else {}
    if body.get("response_action") == "errors":
        return " ".join(body["errors"].values())
    if body:
        assert body["response_type"] == "ephemeral", body
        return body["text"]
    hook = ctx.slack().fake.hooks()[-1]
    assert hook["response_type"] == "ephemeral", hook
    return hook["text"]


def _state(door: Door, w):
    return (AuditEntry.objects.count(), door.written(w) if door.written else None)


@pytest.mark.parametrize("door", DOORS, ids=str)
def test_the_role_below_is_refused_and_nothing_is_written_the_role_succeeds(request, world, door):
    if door.prepare:
        door.prepare(world)
    role = RULES[door.action]
    below = _below(door.action)
    says = door.refused_says or (f"the {role.label.lower()} role" if below is not None else "")

    ctx = _context(request, world, below)
    before = _state(door, world)
    response = door.send(ctx)
    if door.via == "slack":
        text = _slack_text(door, ctx, response)
        assert (says or "nothing was changed") in text, text
    else:
        assert response.status_code == door.refused_status, (response.status_code, response.content[:500])
        if door.refused_status == 302:
            assert "/login/" in response["Location"]
        elif door.via in ("api", "metrics", "otlp"):
            assert says in json.dumps(response.json()), response.json()
        else:
            assert says in response.content.decode()
    assert _state(door, world) == before, "a refused request wrote something"

    ctx = _context(request, world, role)
    response = door.send(ctx)
    assert response.status_code in (200, 201, 302), (response.status_code, response.content[:800])
    if response.status_code == 302:
        assert "/login/" not in response["Location"]
    if door.action in READ_RULES:
        assert _state(door, world) == before
    else:
        assert _state(door, world) != before, "the allowed request wrote nothing"


def test_every_rule_has_its_doors_in_the_matrix():
    assert set(RULES) == {door.action for door in DOORS}


def test_every_rule_with_a_web_or_api_door_is_reached_from_each_door_it_has():
    """The API reaches every write rule; the web, where a page offers the action."""
    api_rules = {d.action for d in DOORS if d.via == "api"}
    assert set(RULES) - api_rules == {"metrics.read", "admin"}


# --- one service decides each rule -----------------------------------------------------------------------------

SOURCE_ROOTS = ("core", "rollouts", "diagnostics", "incidents", "slackbot")
# A literal rule passed to require/can: require(actor, "incident.update"), can(user, "compatibility.override").
DECIDES = re.compile(r"\b(require|can)\(\s*[\w.]+\s*,\s*\"([a-z_.]+)\"")

# The one module that decides each rule. Three are reached by a helper that names them:
# rollback_permission() (rollback.*) and control_permission() (rollout.control); "view" and "admin" are decided
# at the doors (reading; the admin site), metrics.read by the scrape itself.
DECIDED_IN = {
    "release.register": "rollouts/registry/services.py",
    "deployment.record": "rollouts/registry/services.py",
    "feature.manage": "rollouts/registry/services.py",
    "compatibility.override": "rollouts/registry/services.py",
    "incident.create": "incidents/services.py",
    "incident.update": "incidents/services.py",
    "postmortem.edit": "incidents/postmortem_services.py",
    "postmortem.publish": "incidents/postmortem_services.py",
    "action_item.edit": "incidents/action_item_services.py",
    "change_event.create": "incidents/services.py",
    "diagnosis.update": "diagnostics/services.py",
    "ownership.manage": "diagnostics/services.py",
    "report.create": "diagnostics/reports/services.py",
    "report.cancel": "diagnostics/reports/services.py",
    "report.link": "diagnostics/reports/services.py",
    "prompt_set.import": "diagnostics/reports/services.py",
    "generation_endpoint.manage": "diagnostics/reports/services.py",
    "rollout.start": "rollouts/runs/services.py",
    "rollout.control": "rollouts/runs/services.py",
    "rollback.staging": "rollouts/registry/rollbacks.py",
    "rollback.production": "rollouts/registry/rollbacks.py",
    "webhook.manage": "rollouts/runs/webhooks.py",
    "impact.review": "rollouts/impact/services.py",
    "impact.waive": "rollouts/impact/services.py",
    # The observations API and the OTLP intake (which refuses even a batch without a GenAI span).
    "observation.ingest": "rollouts/judging/observations.py",
    "metrics.read": "rollouts/integrations/prometheus_export.py",
    "admin": "core/admin_site.py",
    "alert_source.manage": "incidents/alerts/services.py",
    "change_event_target.manage": "rollouts/runs/change_events/services.py",
}
# Named by a helper rather than passed literally to require().
NAMED_BY_HELPER = {
    "rollback.staging": 'return "rollback.production" if environment.is_production else "rollback.staging"',
    "rollback.production": 'return "rollback.production" if environment.is_production else "rollback.staging"',
    "rollout.control": 'return "rollout.control"',
}
# Doors that may still ask can()/refusal() to show a control disabled with its reason, never to refuse a write.
READ_ONLY_RULES_AT_DOORS = {"view"}


def _sources():
    root = Path(settings.BASE_DIR)
    for top in SOURCE_ROOTS:
        for path in (root / top).rglob("*.py"):
            rel = path.relative_to(root).as_posix()
            if "/migrations/" in rel or rel.endswith(("demo.py", "demo_history.py")):
                continue
            yield rel, path.read_text()


def test_each_rule_is_decided_in_one_service_module():
    deciding: dict[str, set[str]] = {}
    for rel, text in _sources():
        for match in DECIDES.finditer(text):
            if match.group(1) == "require" or rel.endswith(("services.py", "admin_site.py")):
                deciding.setdefault(match.group(2), set()).add(rel)
    for action, helper in NAMED_BY_HELPER.items():
        module = DECIDED_IN[action]
        assert helper in (Path(settings.BASE_DIR) / module).read_text(), action
        deciding.setdefault(action, set()).add(module)
    deciding.pop("view", None)  # reading: the doors (read_required, RolePermission, Slack's /rollback)
    expected = {a: set(m) if isinstance(m, tuple) else {m} for a, m in DECIDED_IN.items()}
    assert deciding == expected


def test_no_door_decides_a_write_rule():
    """Views, API views, serializers, forms and Slack handlers never call require(); can() and refusal() only
    present a control (disabled, with its reason)."""
    doors = [
        (rel, text)
        for rel, text in _sources()
        if rel.endswith(("views.py", "serializers.py")) or rel.startswith("slackbot/") or "/api/" in rel
    ]
    assert len(doors) > 20
    for rel, text in doors:
        for match in DECIDES.finditer(text):
            if match.group(1) == "require":
                assert match.group(2) in READ_ONLY_RULES_AT_DOORS, f"{rel} decides {match.group(2)}"
        assert 'PermissionDenied("This needs' not in text, rel


@pytest.mark.parametrize(
    ("action", "call"),
    [
        ("incident.update", lambda w, u: incident_services.incident_add_note(actor=u, incident=w.incident, text="x")),
        ("deployment.record", lambda w, u: registry.deployment_record(actor=u, environment=w.staging, release=w.r3)),
        ("rollout.start", lambda w, u: runs.run_start(actor=u, environment=w.staging, candidate_release=w.r3)),
        (
            "rollback.production",
            lambda w, u: runs.rollback_request(actor=u, environment=w.production, to_release=w.r1, reason="x"),
        ),
    ],
)
def test_the_services_refuse_an_under_privileged_actor_without_a_door(request, world, action, call):
    """The services decide on their own: called directly (as a worker, a command or a test would) they refuse."""
    user = request.getfixturevalue(ROLE_FIXTURES[_below(action)])
    before = AuditEntry.objects.count()
    with pytest.raises(PermissionDenied, match=f"{RULES[action].label.lower()} role"):
        call(world, user)
    assert AuditEntry.objects.count() == before


def test_the_compatibility_override_is_refused_as_a_field_error_by_the_registry_service(world, responder):
    with pytest.raises(ValidationError, match="Only an approver may override"):
        registry.release_create(
            actor=responder,
            feature=world.feature,
            model=world.r2.model,
            prompt=world.r1.prompt,
            index=registry.index_version_register(
                actor=responder,
                name="kb",
                embedding_model="e5",
                embedding_model_version="2",
                dimension=768,
                corpus_snapshot="2026-11-01",
                document_count=10,
                built_at=timezone.now(),
            )[0],
            query_encoder="bge-small-en@1.4",
            override_reason="trust me",
        )
