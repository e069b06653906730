"""Eight months of past incidents on the two demo features, so the manager dashboard has something to say:
TTD/TTR per month (improving since detection alerts were added), root causes over all four layers, a few
recurrences (same feature + root-cause layer within 90 days), and action items done on time, done late, won't do
and still open past their due date.

Every incident is walked through the real services by the real people. The services stamp "now" on the
lifecycle fields they own (mitigated/resolved/closed, an action item's created/completed times, the timeline),
so each walk ends with `_backdate`: one documented queryset update per mutable row, moving those stamps to the
incident's real history. Immutable records (audit entries, evidence, published revisions) keep their real times.
Idempotent: an incident whose title exists is skipped; each incident is built in one transaction."""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from core.permissions import can
from diagnostics.models import DiagnosisLayer, LayerDiagnosis
from diagnostics.services import layer_set_verdict
from incidents.action_item_services import action_item_create, action_item_update
from incidents.models import ActionItem, Incident, IncidentSource, TimelineEvent
from incidents.postmortem_services import postmortem_publish, postmortem_start, postmortem_submit, postmortem_update
from incidents.services import incident_open, incident_transition

LAYERS = list(DiagnosisLayer.values)
RULED_OUT_NOTES = {
    "model": "Same snapshot, precision and fingerprint as the week before; answers are right given good context.",
    "data": "Index and encoder unchanged; recall@5 on the golden set within 1 point of baseline.",
    "prompt": "Prompt unchanged in the window; failing cases fail the same way with the previous prompt.",
    "product": "Alert fired as designed and the UI release in the window touched nothing in this flow.",
}


OWNERS = {
    "support-assistant": {"model": "maya", "data": "leo", "prompt": "priya", "product": "sam"},
    "invoice-extractor": {"model": "maya", "data": "leo", "prompt": "ines", "product": "sam"},
}


class Item(NamedTuple):
    layer: str
    owner: str
    due_in_days: int  # after detection
    outcome: str  # on_time | late | wont_do | open | in_progress
    title: str


class Past(NamedTuple):
    days_ago: int  # impact start
    feature: str
    env: str
    severity: str
    root: str
    contributing: str | None
    ttd_minutes: int
    ttr_minutes: int  # impact start -> mitigated
    title: str
    cause: str
    items: tuple[Item, ...]
    end: str = "closed"  # closed | postmortem | monitoring | cancelled


S, INV = "support-assistant", "invoice-extractor"
HISTORY: tuple[Past, ...] = (
    # --- Months 8-5 ago: slow detection (users and support agents tell us), long restores.
    Past(
        238,
        S,
        "production",
        "sev2",
        "data",
        "product",
        1260,
        1680,
        "Support answers cite retired pricing pages",
        "The nightly crawl re-indexed archived pricing pages; nothing filtered documents marked retired.",
        (
            Item("data", "leo", 14, "late", "Filter archived pages out of the help-center crawl"),
            Item("product", "sam", 21, "on_time", "Weekly sample of cited articles reviewed by support leads"),
        ),
    ),
    Past(
        229,
        INV,
        "production",
        "sev2",
        "model",
        None,
        900,
        1320,
        "Invoice totals off by a factor of 100 for JPY invoices",
        "Provider alias re-resolved to a new snapshot that treats zero-decimal currencies differently.",
        (
            Item("model", "maya", 10, "on_time", "Pin the model snapshot instead of the floating alias"),
            Item("model", "ines", 20, "late", "Add zero-decimal currency invoices to the eval set"),
        ),
    ),
    Past(
        221,
        S,
        "production",
        "sev3",
        "prompt",
        None,
        720,
        960,
        "Assistant answers in English to German customers",
        "A prompt edit to shorten answers dropped the 'reply in the customer's language' instruction.",
        (Item("prompt", "priya", 7, "on_time", "Language-match check in the prompt regression suite"),),
    ),
    Past(
        214,
        INV,
        "production",
        "sev3",
        "data",
        None,
        1440,
        2160,
        "Vendor names missing on scanned invoices",
        "The OCR pipeline upgrade changed line ordering; the vendor block moved below the totals.",
        (
            Item("data", "ines", 14, "late", "Contract test on OCR output ordering"),
            Item("product", "sam", 30, "wont_do", "Manual review queue for low-confidence vendor names"),
        ),
    ),
    Past(
        203,
        S,
        "production",
        "sev2",
        "product",
        "data",
        1980,
        2400,
        "Assistant silently stopped citing sources",
        "The widget release hid the citations panel; no metric covered citation rendering.",
        (
            Item("product", "sam", 10, "on_time", "Alert on citation click-through below 30% for an hour"),
            Item("data", "leo", 21, "late", "Log retrieved document ids with every answer"),
        ),
    ),
    Past(
        196,
        S,
        "staging",
        "sev4",
        "prompt",
        None,
        240,
        300,
        "Staging assistant leaks the system prompt when asked",
        "The new jailbreak-resistance section was pasted after the template, not in the system prompt.",
        (Item("prompt", "priya", 7, "on_time", "Prompt lint: system instructions only in the system prompt"),),
    ),
    Past(
        188,
        INV,
        "production",
        "sev1",
        "model",
        "product",
        1080,
        1500,
        "Invoice extractor returns empty JSON for half of requests",
        "A vLLM upgrade changed the default max_tokens; long invoices were cut before the first field.",
        (
            Item("model", "maya", 5, "on_time", "Set decoding parameters explicitly in every release"),
            Item("product", "sam", 14, "late", "Alert on empty-field rate above 5% for 15 minutes"),
            Item("model", "maya", 30, "wont_do", "Run two serving versions side by side for a week"),
        ),
    ),
    Past(
        176,
        S,
        "production",
        "sev3",
        "data",
        None,
        1500,
        1860,
        "Answers reference a competitor's product",
        "A partner FAQ was ingested into the help-center index by a misconfigured crawl seed.",
        (Item("data", "leo", 10, "late", "Allow-list of crawl domains, reviewed on change"),),
    ),
    Past(
        164,
        INV,
        "production",
        "sev2",
        "prompt",
        "model",
        840,
        1200,
        "Due dates extracted as issue dates",
        "A few-shot example added for credit notes had the two dates swapped.",
        (
            Item("prompt", "ines", 7, "on_time", "Review few-shot examples against their source invoices"),
            Item("model", "maya", 21, "late", "Eval slice for invoices with both dates on one line"),
        ),
    ),
    Past(
        158,
        S,
        "production",
        "sev2",
        "model",
        "prompt",
        960,
        1320,
        "Assistant invents refund policies",
        "The int4 build hallucinated policy details when retrieval returned nothing; fp16 abstained.",
        (
            Item("model", "maya", 14, "late", "Gate quantized builds on the abstention eval"),
            Item("prompt", "priya", 10, "on_time", "Explicit 'no article found' instruction with example"),
        ),
    ),
    # --- Months 5-3 ago: detection alerts land; TTD drops from hours to tens of minutes.
    Past(
        146,
        INV,
        "production",
        "sev3",
        "data",
        None,
        180,
        480,
        "Currency codes missing for Swiss invoices",
        "The OCR pipeline dropped the CHF symbol after a font-table update.",
        (Item("data", "ines", 14, "on_time", "Golden OCR samples per country in the pipeline tests"),),
    ),
    Past(
        139,
        S,
        "production",
        "sev2",
        "data",
        "product",
        150,
        420,
        "Stale answers after the help-center migration",
        "The index kept serving the old CMS's documents; the freshness job pointed at the retired bucket.",
        (
            Item("data", "leo", 7, "on_time", "Alert when the newest indexed document is older than 48 hours"),
            Item("product", "sam", 21, "wont_do", "Dashboard of index freshness per source"),
        ),
    ),
    Past(
        131,
        INV,
        "staging",
        "sev4",
        "prompt",
        None,
        60,
        120,
        "Staging extractor returns markdown-wrapped JSON",
        "A prompt edit asked for 'well formatted' output; the model wrapped JSON in code fences.",
        (Item("prompt", "ines", 5, "on_time", "Schema-validate outputs in the prompt CI job"),),
    ),
    Past(
        124,
        S,
        "production",
        "sev3",
        "product",
        None,
        90,
        300,
        "Thumbs-down spike not paged for a weekend",
        "The alert routed to a disbanded on-call rotation.",
        (
            Item("product", "sam", 7, "on_time", "Route AI quality alerts to the feature's current rotation"),
            Item("product", "vik", 14, "late", "Monthly check that every alert has a live receiver"),
        ),
    ),
    Past(
        117,
        INV,
        "production",
        "sev2",
        "model",
        None,
        120,
        390,
        "Line items duplicated on multi-page invoices",
        "The provider silently updated the snapshot behind the alias; page breaks now repeat the last item.",
        (
            Item("model", "maya", 10, "on_time", "Fingerprint check: fail the deploy when the snapshot changes"),
            Item("data", "leo", 21, "on_time", "Multi-page invoices in the regression set"),
        ),
    ),
    Past(
        109,
        S,
        "production",
        "sev2",
        "prompt",
        "data",
        75,
        270,
        "Assistant refuses to discuss account deletion",
        "The safety section added for payment data matched 'account' questions too broadly.",
        (
            Item("prompt", "priya", 7, "on_time", "Refusal-rate eval on a neutral question set"),
            Item("data", "leo", 14, "late", "Tag help articles by topic for refusal analysis"),
        ),
    ),
    Past(
        101,
        INV,
        "production",
        "sev3",
        "product",
        "prompt",
        45,
        210,
        "Extraction confidence always shown as 100%",
        "The UI release read a renamed field and defaulted to 1.0.",
        (Item("product", "sam", 7, "on_time", "Contract test between the extractor API and the UI"),),
    ),
    Past(
        96,
        S,
        "production",
        "sev2",
        "data",
        None,
        60,
        240,
        "Retrieval returns only English articles",
        "The re-embedding job ran with a monolingual encoder; the index and query encoder diverged.",
        (
            Item("data", "leo", 10, "on_time", "Refuse releases whose index encoder differs from the query encoder"),
            Item("data", "leo", 30, "late", "Multilingual recall eval in the index build"),
        ),
    ),
    # --- Months 3-0 ago: mostly caught by alerts within the hour; some follow-ups still open.
    Past(
        88,
        INV,
        "production",
        "sev2",
        "model",
        "data",
        40,
        180,
        "Totals wrong on invoices with discounts",
        "The fine-tuned adapter was trained on invoices without discount lines.",
        (
            Item("model", "maya", 14, "on_time", "Adapter eval must include discount invoices"),
            Item("data", "ines", 21, "open", "Rebalance the adapter training set by invoice layout"),
        ),
    ),
    Past(
        80,
        S,
        "production",
        "sev3",
        "prompt",
        None,
        35,
        150,
        "Assistant signs answers as 'ChatGPT'",
        "A prompt cleanup removed the persona line.",
        (Item("prompt", "priya", 7, "on_time", "Persona assertion in the prompt regression suite"),),
    ),
    Past(
        73,
        INV,
        "production",
        "sev3",
        "data",
        None,
        30,
        120,
        "Invoice numbers truncated at 12 characters",
        "The OCR post-processing step applied a length limit from another customer's schema.",
        (
            Item("data", "ines", 10, "on_time", "Per-schema config for OCR post-processing"),
            Item("product", "sam", 20, "wont_do", "Show the raw OCR text next to each field"),
        ),
    ),
    Past(
        66,
        S,
        "production",
        "sev2",
        "model",
        "product",
        25,
        110,
        "Slow answers (p95 14 s) after the GPU pool change",
        "The new pool served the int4 build with a smaller KV cache; long contexts queued.",
        (
            Item("model", "maya", 7, "on_time", "Load test each serving config before it takes traffic"),
            Item("product", "sam", 14, "open", "Latency SLO alert on p95 above 6 s"),
        ),
    ),
    Past(
        58,
        S,
        "staging",
        "sev4",
        "data",
        None,
        20,
        60,
        "Staging index missing last week's articles",
        "The staging index build was paused during the migration and never resumed.",
        (Item("data", "leo", 7, "on_time", "Alert on paused index builds older than a day"),),
    ),
    Past(
        51,
        INV,
        "production",
        "sev2",
        "prompt",
        "model",
        30,
        140,
        "Extractor guesses missing VAT numbers",
        "A prompt edit meant to fix date formats removed the 'use null, never guess' rule.",
        (
            Item("prompt", "ines", 7, "on_time", "Null-not-guess cases in the prompt regression set"),
            Item("model", "maya", 21, "open", "Calibrate field confidence on the guessing cases"),
        ),
    ),
    Past(
        44,
        S,
        "production",
        "sev3",
        "product",
        None,
        15,
        90,
        "Feedback buttons hidden on mobile",
        "A CSS change hid the thumbs buttons below 400px; the thumbs-down metric flatlined.",
        (
            Item("product", "sam", 7, "late", "Alert when feedback volume drops 50% day over day"),
            Item("product", "vik", 21, "in_progress", "Feedback volume per platform on the quality dashboard"),
        ),
    ),
    Past(
        37,
        INV,
        "production",
        "sev2",
        "data",
        "product",
        20,
        100,
        "Supplier addresses mixed up between invoices",
        "A batching change in the OCR pipeline interleaved pages from concurrent uploads.",
        (
            Item("data", "ines", 7, "on_time", "Carry the upload id through every OCR stage"),
            Item("product", "sam", 14, "open", "Sample-based cross-invoice consistency check"),
        ),
    ),
    Past(
        30,
        S,
        "production",
        "sev2",
        "prompt",
        "data",
        12,
        75,
        "Assistant promises same-day refunds",
        "A tone edit ('be reassuring') made the assistant commit to timelines not in the articles.",
        (
            Item("prompt", "priya", 10, "on_time", "Eval: no commitments that are not in the cited article"),
            Item("data", "leo", 14, "open", "Refund timeline article with structured fields"),
        ),
    ),
    Past(
        22,
        INV,
        "production",
        "sev3",
        "model",
        None,
        10,
        60,
        "Dates parsed as US format for UK invoices",
        "The new base snapshot prefers MM/DD when the day is 12 or less.",
        (
            Item("model", "maya", 7, "late", "Locale-ambiguous dates in the model eval"),
            Item("prompt", "ines", 30, "open", "Pass the invoice country into the prompt"),
        ),
    ),
    Past(
        16,
        S,
        "production",
        "sev2",
        "data",
        None,
        8,
        55,
        "Answers cite the wrong product tier",
        "Tier-specific articles lost their metadata in re-indexing; retrieval ignored the customer's plan.",
        (
            Item("data", "leo", 10, "in_progress", "Metadata completeness check in the index build"),
            Item("product", "sam", 20, "open", "Show the retrieved tier next to each citation"),
        ),
        "postmortem",
    ),
    Past(
        11,
        INV,
        "staging",
        "sev4",
        "product",
        None,
        5,
        30,
        "Staging extraction dashboard shows no data",
        "The metrics exporter was pointed at the production project.",
        (),
        "cancelled",
    ),
    Past(
        8,
        INV,
        "production",
        "sev3",
        "prompt",
        None,
        9,
        45,
        "Extractor drops the currency on credit notes",
        "The credit-note few-shot example has no currency; the model copies the omission.",
        (Item("prompt", "ines", 7, "open", "Few-shot examples must cover every schema field"),),
        "monitoring",
    ),
)


def load_history(people, features) -> None:
    envs = {(slug, env.name): env for slug, feature in features.items() for env in feature.environments.all()}
    existing = set(Incident.objects.filter(title__in=[p.title for p in HISTORY]).values_list("title", flat=True))
    for past in HISTORY:
        if past.title not in existing:
            with transaction.atomic():
                _walk(people, past, envs.get((past.feature, past.env)) or envs[(past.feature, "production")])


def _commander(people, past: Past):
    return people["maya"] if past.feature == S else people["ines"]


def _walk(people, past: Past, env) -> None:
    now = timezone.now()
    # Spread over the day (deterministic, so reruns would pick the same times).
    day = timezone.localtime(now - dt.timedelta(days=past.days_ago))
    started = day.replace(hour=(5 + past.days_ago * 7) % 24, minute=past.days_ago * 13 % 60, second=0, microsecond=0)
    detected = started + dt.timedelta(minutes=past.ttd_minutes)
    mitigated = started + dt.timedelta(minutes=past.ttr_minutes)
    resolved = mitigated + dt.timedelta(hours=6)
    closed = resolved + dt.timedelta(days=5)
    lead = _commander(people, past)
    owners = {layer: people[name] for layer, name in OWNERS[past.feature].items()}
    incident = incident_open(
        actor=owners["product"] if past.ttd_minutes <= 60 else lead,
        title=past.title,
        severity=past.severity,
        summary=past.cause,
        feature_environments=[env],
        impact_started_at=started,
        detected_at=detected,
        commander=lead,
        source=IncidentSource.DEMO,
    )
    if past.end == "cancelled":
        incident_transition(
            actor=lead, incident=incident, to_status="cancelled", reason="Not user-facing: " + past.cause
        )
        _backdate(incident, detected, closed_at=detected + dt.timedelta(hours=1))
        return
    incident_transition(actor=lead, incident=incident, to_status="investigating")
    diagnoses = {d.layer: d for d in LayerDiagnosis.objects.filter(incident=incident)}
    # Non-root layers first: "model" may only be the sole root cause once the others are ruled out with evidence.
    for layer in sorted(LAYERS, key=lambda name: name == past.root):
        if layer == past.root:
            status, note = "root_cause", past.cause
        elif layer == past.contributing:
            status, note = "contributing", "Made it worse or slower to see: " + past.cause[:1].lower() + past.cause[1:]
        else:
            status, note = "ruled_out", RULED_OUT_NOTES[layer]
        layer_set_verdict(actor=owners[layer], diagnosis=diagnoses[layer], status=status, evidence_note=note)
    steps = (
        ("identified", "mitigating", "monitoring")
        if past.end == "monitoring"
        else ("identified", "mitigating", "monitoring", "resolved", "postmortem")
    )
    for status in steps:
        incident_transition(actor=lead, incident=incident, to_status=status)
    items = _action_items(people, lead, incident, past, detected.date(), now)
    stamps = (
        {"mitigated_at": mitigated}
        if past.end == "monitoring"
        else {"mitigated_at": mitigated, "resolved_at": resolved}
    )
    _backdate(incident, detected, items=items, **stamps)
    if past.end == "monitoring":
        return
    postmortem = postmortem_start(actor=lead, incident=incident)
    postmortem_update(
        actor=lead,
        postmortem=postmortem,
        summary=f"{past.title}. Impact for {past.ttr_minutes // 60} h {past.ttr_minutes % 60} min; detected after "
        f"{past.ttd_minutes} min.",
        impact=f"{past.severity.upper()} on {env}.",
        root_cause=past.cause,
        contributing_factors=f"{DiagnosisLayer(past.contributing).label} layer contributed."
        if past.contributing
        else "",
        lessons="Every fix comes with an eval case or an alert that would have caught it.",
    )
    if past.end == "postmortem":
        return  # still a draft: the lead is collecting comments
    review_started = timezone.now()
    postmortem_submit(actor=lead, postmortem=postmortem)
    postmortem_publish(actor=lead, postmortem=postmortem)
    incident_transition(actor=lead, incident=incident, to_status="closed")
    # Same rule as _backdate for the review and close steps: they happened in the days after resolution.
    TimelineEvent.objects.filter(incident=incident, occurred_at__gte=review_started).update(
        occurred_at=F("occurred_at") - (review_started - closed)
    )
    Incident.objects.filter(pk=incident.pk).update(closed_at=closed)


def _action_items(people, lead, incident, past: Past, detected_on: dt.date, now) -> list[tuple[ActionItem, dict]]:
    """Create each item, move it to its outcome via the service, and say which times it really had."""
    made = []
    for spec in past.items:
        due = detected_on + dt.timedelta(days=spec.due_in_days)
        item = action_item_create(
            actor=lead,
            incident=incident,
            title=spec.title,
            owner=people[spec.owner],
            due_date=due,
            layer=spec.layer,
            priority="p1" if past.severity in ("sev1", "sev2") else "p2",
            kind="detective" if spec.layer == "product" else "preventive",
            backdate_reason="demo history: recorded after the fact",
        )
        created = incident.detected_at + dt.timedelta(hours=8)
        completed = None
        # A viewer may own an item but not edit it: the lead records the outcome for them.
        closer = people[spec.owner] if can(people[spec.owner], "action_item.edit") else lead
        if spec.outcome == "on_time":
            item = action_item_update(actor=closer, item=item, status="done")
            completed = _at(due - dt.timedelta(days=max(1, spec.due_in_days // 3)))
        elif spec.outcome == "late":
            item = action_item_update(actor=closer, item=item, status="done")
            completed = _at(due + dt.timedelta(days=6 + spec.due_in_days // 2))
        elif spec.outcome == "wont_do":
            item = action_item_update(
                actor=lead,
                item=item,
                status="wont_do",
                wont_do_reason="Covered by the alert and eval case from the other items; not worth the upkeep.",
            )
            completed = _at(due - dt.timedelta(days=2))
        elif spec.outcome == "in_progress":
            item = action_item_update(actor=closer, item=item, status="in_progress")
        made.append((item, {"created_at": created, "completed_at": min(completed, now) if completed else None}))
    return made


def _at(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time(15, 0)))


def _backdate(incident, detected, *, items=(), **incident_stamps) -> None:
    """The one place demo history rewrites times. Only mutable rows: the incident's lifecycle stamps, its timeline
    (shifted as a block so it starts at detection, order kept) and each action item's created/completed times."""
    shift = timezone.now() - detected
    TimelineEvent.objects.filter(incident=incident).update(occurred_at=F("occurred_at") - shift)
    Incident.objects.filter(pk=incident.pk).update(created_at=detected, **incident_stamps)
    for item, stamps in items:
        ActionItem.objects.filter(pk=item.pk).update(**stamps)
