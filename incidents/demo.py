"""Demo incidents on the demo features (created by rollouts/demo.py). Idempotent: skipped if already there,
and a no-op until the features exist."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from diagnostics.models import DiagnosisLayer, LayerDiagnosis
from diagnostics.services import checklist_answer, evidence_add, layer_set_verdict, ownership_map_set
from incidents.action_item_services import action_item_create
from incidents.alerts import demo as alerts_demo
from incidents.demo_history import OWNERS, load_history
from incidents.models import Incident, IncidentSource
from incidents.postmortem_services import postmortem_publish, postmortem_start, postmortem_submit, postmortem_update
from incidents.services import change_event_record, incident_add_note, incident_open, incident_transition
from rollouts.models import Feature


def _production(feature: Feature):
    return feature.environments.order_by("-is_production", "name").first()


def _layer(incident, layer) -> LayerDiagnosis:
    return LayerDiagnosis.objects.get(incident=incident, layer=layer)


def load(people) -> None:
    features = {f.slug: f for f in Feature.objects.filter(slug__in=OWNERS)}
    if len(features) < len(OWNERS) or not all(_production(f) for f in features.values()):
        return
    admin = people["demo"]
    for slug, owners in OWNERS.items():
        feature = features[slug]
        for layer, username in owners.items():
            if not feature.layer_owners.filter(layer=layer).exists():
                team = people[username].teams.first()
                ownership_map_set(actor=admin, feature=feature, layer=layer, owner=people[username], team=team)
    # History first, so incident numbers follow time on a fresh database.
    load_history(people, features)
    _embedding_incident(people, features["support-assistant"])
    _quantization_incident(people, features["invoice-extractor"])
    _refusal_incident(people, features["support-assistant"])
    alerts_demo.load(people)


def _embedding_incident(people, feature) -> None:
    title = "Support assistant answers got worse after the embedding change"
    if Incident.objects.filter(title=title).exists():
        return
    now = timezone.now()
    leo, priya, sam, maya = people["leo"], people["priya"], people["sam"], people["maya"]
    change_event_record(
        actor=sam,
        layer=DiagnosisLayer.PRODUCT,
        title="Thumbs-down alert threshold raised from 5% to 12% (noisy pages)",
        system="grafana",
        feature=feature,
        occurred_at=now - dt.timedelta(days=9),
    )
    incident = incident_open(
        actor=sam,
        title=title,
        severity="sev2",
        summary="Support agents report answers citing unrelated help-centre articles; thumbs-down rate went from "
        "4% to 11% over two days. Started after the knowledge-base index was rebuilt with a new embedding model.",
        feature_environments=[_production(feature)],
        impact_started_at=now - dt.timedelta(days=6, hours=5),
        detected_at=now - dt.timedelta(days=4, hours=22),
        commander=maya,
        source=IncidentSource.DEMO,
    )
    incident_transition(actor=maya, incident=incident, to_status="investigating")
    incident_add_note(actor=leo, incident=incident, text="Recall@5 on the golden set dropped from 0.91 to 0.62.")
    evidence_add(
        actor=leo,
        diagnosis=_layer(incident, "data"),
        text="Index rebuilt with bge-m3 but the gateway still encodes queries with e5-large: vectors from two spaces.",
    )
    checklist_answer(
        actor=leo,
        diagnosis=_layer(incident, "data"),
        key="embedding_model",
        answer="Yes: e5-large → bge-m3, encoder mismatch",
    )
    layer_set_verdict(actor=leo, diagnosis=_layer(incident, "data"), status="root_cause")
    layer_set_verdict(
        actor=priya,
        diagnosis=_layer(incident, "prompt"),
        status="ruled_out",
        evidence_note="Prompt unchanged for 30 days; failing cases fail identically with the previous prompt.",
    )
    layer_set_verdict(
        actor=maya,
        diagnosis=_layer(incident, "model"),
        status="ruled_out",
        evidence_note="Same snapshot and fingerprint; answers correct when given the right context.",
    )
    layer_set_verdict(
        actor=sam,
        diagnosis=_layer(incident, "product"),
        status="contributing",
        evidence_note="Eval set has no retrieval cases, and the thumbs-down alert threshold had been raised to 12%.",
    )
    for status in ("identified", "mitigating", "monitoring", "resolved", "postmortem"):
        incident_transition(actor=maya, incident=incident, to_status=status)
    today = timezone.localdate()
    action_item_create(
        actor=maya,
        incident=incident,
        title="Refuse deployments whose index encoder differs from the query encoder",
        owner=leo,
        due_date=today + dt.timedelta(days=7),
        layer="data",
        priority="p1",
        kind="preventive",
    )
    action_item_create(
        actor=maya,
        incident=incident,
        title="Add the 40 failing tickets to the regression eval set",
        owner=sam,
        due_date=today - dt.timedelta(days=2),
        layer="product",
        kind="detective",
        backdate_reason="demo: an item that is already overdue",
    )
    action_item_create(
        actor=maya,
        incident=incident,
        title="Alert on citation click-through below 30% for an hour",
        owner=sam,
        due_date=today + dt.timedelta(days=21),
        layer="product",
        priority="p2",
        kind="detective",
    )
    postmortem = postmortem_start(actor=maya, incident=incident)
    postmortem_update(
        actor=maya,
        postmortem=postmortem,
        summary="For about 33 hours the support assistant retrieved unrelated articles because the knowledge-base "
        "index was rebuilt with bge-m3 while queries were still embedded with e5-large.",
        impact="Thumbs-down rate 4% → 11%; about 6,200 conversations affected; agents escalated 310 extra tickets.",
        users_affected="Support agents in EU and US; end customers of the self-service widget.",
        workflows_affected="Ticket deflection, macro suggestions for agents.",
        root_cause="The index and the query encoder were changed in separate steps; nothing checked they matched.",
        contributing_factors="No retrieval cases in the eval set; thumbs-down alert threshold raised a week before.",
        went_well="Rollback to release #1 took 6 minutes once identified.",
        went_poorly="Detection took 31 hours; the first responder blamed the model.",
        lessons="Treat index + encoder as one deployable unit; retrieval needs its own eval and alert.",
    )
    postmortem_submit(actor=maya, postmortem=postmortem)
    postmortem_publish(actor=maya, postmortem=postmortem)
    incident_transition(actor=maya, incident=incident, to_status="closed")
    # Demo realism: the walk above happened "now"; spread the times over the real incident.
    Incident.objects.filter(pk=incident.pk).update(
        mitigated_at=now - dt.timedelta(days=4, hours=20), resolved_at=now - dt.timedelta(days=3)
    )


def _quantization_incident(people, feature) -> None:
    title = "Invoice extractor JSON validity dropped after the quantization change"
    if Incident.objects.filter(title=title).exists():
        return
    now = timezone.now()
    ines, leo, sam, maya = people["ines"], people["leo"], people["sam"], people["maya"]
    incident = incident_open(
        actor=ines,
        title=title,
        severity="sev2",
        summary="Valid-JSON rate fell from 99.6% to 91% after serving moved to the int4 AWQ build; line items are "
        "truncated and closing braces missing on long invoices.",
        feature_environments=[_production(feature)],
        impact_started_at=now - dt.timedelta(hours=20),
        detected_at=now - dt.timedelta(hours=18),
        commander=ines,
        source=IncidentSource.DEMO,
    )
    incident_transition(actor=ines, incident=incident, to_status="investigating")
    layer_set_verdict(
        actor=leo,
        diagnosis=_layer(incident, "data"),
        status="ruled_out",
        evidence_note="Invoice mix unchanged week over week (same vendors, page counts).",
    )
    layer_set_verdict(
        actor=ines,
        diagnosis=_layer(incident, "prompt"),
        status="ruled_out",
        evidence_note="Prompt unchanged; int4 fails, fp16 passes with the same prompt on 200 invoices.",
    )
    layer_set_verdict(
        actor=sam,
        diagnosis=_layer(incident, "product"),
        status="ruled_out",
        evidence_note="The JSON-validity alert fired within 2 hours as designed.",
    )
    checklist_answer(
        actor=maya, diagnosis=_layer(incident, "model"), key="quantization", answer="Yes: fp16 → int4 AWQ on 2 GPUs"
    )
    layer_set_verdict(
        actor=maya,
        diagnosis=_layer(incident, "model"),
        status="root_cause",
        evidence_note="int4 build truncates outputs above ~1,800 tokens; fp16 does not.",
    )
    for status in ("identified", "mitigating", "monitoring"):
        incident_transition(actor=ines, incident=incident, to_status=status)
    action_item_create(
        actor=ines,
        incident=incident,
        title="Gate quantized builds on the long-invoice JSON eval (≥ 99%)",
        owner=maya,
        due_date=timezone.localdate() + dt.timedelta(days=10),
        layer="model",
        priority="p1",
        kind="preventive",
    )


def _refusal_incident(people, feature) -> None:
    title = "Support assistant refuses billing questions"
    if Incident.objects.filter(title=title).exists():
        return
    now = timezone.now()
    incident = incident_open(
        actor=people["priya"],
        title=title,
        severity="sev3",
        summary="Since this morning the assistant answers 'I can't help with payment information' to refund questions.",
        feature_environments=[_production(feature)],
        impact_started_at=now - dt.timedelta(hours=5),
        detected_at=now - dt.timedelta(hours=3),
        source=IncidentSource.DEMO,
    )
    incident_transition(actor=people["priya"], incident=incident, to_status="investigating")
    incident_add_note(
        actor=people["priya"], incident=incident, text="Refusals started after the safety wording was tightened?"
    )
