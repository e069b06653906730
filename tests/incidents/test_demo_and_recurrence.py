from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from core.actors import system_actor
from core.demo import load_people
from core.immutable import ImmutableRecordError
from diagnostics.models import LayerDiagnosis
from incidents import demo
from incidents.demo_history import HISTORY
from incidents.models import Incident, PostmortemRevision, TimelineEvent
from incidents.selectors import jaccard, similar_incidents, text_tokens
from incidents.services import incident_open
from incidents.timeline import timeline_record
from rollouts.models import Environment, Feature


def test_the_demo_loader_waits_for_the_demo_features(db):
    demo.load(load_people())
    assert not Incident.objects.exists()


def test_the_demo_loader_builds_realistic_incidents_once(feature, production, deployed):
    invoice = Feature.objects.create(slug="invoice-extractor", name="Invoice extractor", team=feature.team)
    Environment.objects.create(feature=invoice, name="production", is_production=True)
    people = load_people()
    demo.load(people)
    demo.load(people)  # idempotent
    assert Incident.objects.count() == 3 + len(HISTORY)
    published = Incident.objects.get(title__contains="embedding change")
    assert (
        published.status == "closed" and PostmortemRevision.objects.filter(postmortem__incident=published).count() == 1
    )
    assert published.action_items.count() == 3
    assert LayerDiagnosis.objects.get(incident=published, layer="data").status == "root_cause"
    quantization = Incident.objects.get(title__contains="quantization")
    assert LayerDiagnosis.objects.get(incident=quantization, layer="model").status == "root_cause"


def test_token_set_similarity():
    a = text_tokens("Support assistant answers got worse after the embedding change")
    b = text_tokens("Assistant answers irrelevant after embedding model change")
    assert jaccard(a, b) > 0.4 and jaccard(a, text_tokens("Invoice totals wrong")) == 0


def test_similar_past_incidents_show_reasons_and_the_interval(responder, production, incident):
    # Filed today, but its impact started 30 days ago: the interval is the impact's.
    Incident.objects.filter(pk=incident.pk).update(
        impact_started_at=timezone.now() - dt.timedelta(days=30), status="closed"
    )
    LayerDiagnosis.objects.filter(incident=incident, layer="data").update(status="root_cause")
    unrelated = incident_open(
        actor=responder, title="Dashboard login slow", severity="sev4", feature_environments=[production]
    )
    Incident.objects.filter(pk=unrelated.pk).update(impact_started_at=timezone.now() - dt.timedelta(days=10))
    new = incident_open(
        actor=responder,
        title="Support answers worse again after embedding refresh",
        severity="sev2",
        feature_environments=[production],
    )
    LayerDiagnosis.objects.filter(incident=new, layer="data").update(status="root_cause")
    found = similar_incidents(new)
    assert found[0].incident.pk == incident.pk
    assert found[0].interval.days == 30 or found[0].interval.days == 29
    assert found[0].when in ("30 days earlier", "29 days earlier") and not found[0].open_duplicate
    reasons = " ".join(found[0].reasons)
    assert "same feature: support-assistant" in reasons and "same root-cause layer: Data / retrieval" in reasons
    assert "similar text" in reasons
    assert unrelated.pk not in [s.incident.pk for s in found]


def test_an_open_near_duplicate_stays_listed_first_once_a_root_cause_is_set(responder, production, incident):
    past = []
    for i in range(6):  # closed past incidents of the same feature and root-cause layer: they rank high
        old = incident_open(
            actor=responder, title=f"Retrieval regression {i}", severity="sev3", feature_environments=[production]
        )
        LayerDiagnosis.objects.filter(incident=old, layer="data").update(status="root_cause")
        Incident.objects.filter(pk=old.pk).update(
            impact_started_at=timezone.now() - dt.timedelta(days=40 + i), status="closed"
        )
        past.append(old)
    duplicate = incident_open(
        actor=responder,
        title="Support assistant answers worse after the embedding change",
        severity="sev2",
        feature_environments=[production],
    )
    # Filed a little later than ours, impact started an hour later: still the same incident, maybe.
    Incident.objects.filter(pk=duplicate.pk).update(
        impact_started_at=incident.impact_started_at + dt.timedelta(hours=1)
    )
    LayerDiagnosis.objects.filter(incident=incident, layer="data").update(status="root_cause")
    found = similar_incidents(incident)
    assert found[0].incident.pk == duplicate.pk and found[0].open_duplicate
    assert found[0].when == "same day" and "still open: possibly the same incident" in found[0].reasons
    assert len(found) == 5 and {s.incident.pk for s in found[1:]} <= {p.pk for p in past}


def test_timeline_record_is_idempotent_with_an_external_ref(incident):
    engine = system_actor("rollout engine")
    first = timeline_record(
        actor=engine, incident=incident, kind="rollout", text="Canary at 10%", external_ref="run-7-step-1"
    )
    again = timeline_record(
        actor=engine, incident=incident, kind="rollout", text="Canary at 10%", external_ref="run-7-step-1"
    )
    assert first.pk == again.pk and TimelineEvent.objects.filter(kind="rollout").count() == 1


def test_timeline_record_refuses_a_missing_actor(incident):
    with pytest.raises(ValueError, match="needs an actor"):
        timeline_record(actor=None, incident=incident, kind="note", text="who wrote this?")
    assert not TimelineEvent.objects.filter(text="who wrote this?").exists()


def test_a_published_revision_is_immutable(incident):
    from incidents.models import Postmortem

    postmortem = Postmortem.objects.create(incident=incident)
    revision = PostmortemRevision.objects.create(postmortem=postmortem, number=1, snapshot={}, markdown="# x")
    revision.markdown = "# rewritten"
    with pytest.raises(ImmutableRecordError):
        revision.save()
    with pytest.raises(ImmutableRecordError):
        PostmortemRevision.objects.filter(pk=revision.pk).update(markdown="x")
    with pytest.raises(ImmutableRecordError):
        revision.delete()
