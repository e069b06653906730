"""Demo observations and a user-impact plan for invoice-extractor production (called by rollouts.demo.load).

Idempotent: request ids are fixed (re-ingesting drops them as duplicates) and the plan is only built once."""

from __future__ import annotations

import random
from datetime import timedelta

from django.utils import timezone

from rollouts.impact.models import Behaviour, DependentWorkflow
from rollouts.impact.services import dependent_workflow_add, impact_plan_build, impact_review
from rollouts.judging.observations import observations_ingest
from rollouts.registry.models import Environment

# workflow, tenant, error rate on the previous release, error rate on the live one (None: not used there)
WORKFLOWS = [
    ("ap-three-way-match", "globex", 0.08, 0.01),  # line items made their matching work: improved under it
    ("vendor-sync", "acme", 0.02, 0.02),
    ("expense-bot", "initech", None, 0.02),  # only started after the live release
]


def _records(feature, env, release, start, minutes, rate_of, rng, tag):
    out = []
    for m in range(minutes):
        for workflow, tenant, before, after in WORKFLOWS:
            rate = rate_of(before, after)
            if rate is None:
                continue
            for k in range(2):
                out.append(
                    {
                        "feature": feature.slug,
                        "environment": env.name,
                        "release": release.number,
                        "time": (start + timedelta(minutes=m, seconds=20 * k)).isoformat(),
                        "latency_ms": round(rng.lognormvariate(6.6, 0.4), 1),
                        "error": rng.random() < rate,
                        "json_valid": rng.random() > rate,
                        "feedback": rng.choice((None, None, 1, -1 if rng.random() < rate * 5 else 1)),
                        "cost": 0.004,
                        "tokens_in": rng.randint(800, 2400),
                        "tokens_out": rng.randint(120, 400),
                        "segment": {"tenant": tenant, "locale": rng.choice(("en", "de"))},
                        "workflow_id": workflow,
                        "request_id": f"demo-{tag}-{workflow}-{m}-{k}",
                    }
                )
    return out


def load_impact(people) -> None:
    env = Environment.objects.select_related("feature").filter(feature__slug="invoice-extractor", name="production")
    env = env.first()
    if env is None or DependentWorkflow.objects.filter(environment=env).exists():
        return
    events = list(env.deployments.select_related("release").order_by("-live_at")[:2])
    if len(events) < 2:
        return
    live, previous = events[0], events[1]
    rng = random.Random(4)
    now = timezone.now().replace(second=0, microsecond=0)
    # An hour on the previous release just before the live one took over, and the last hour on the live one.
    before = _records(
        env.feature, env, previous.release, live.live_at - timedelta(hours=1), 60, lambda b, a: b, rng, "prev"
    )
    after = _records(env.feature, env, live.release, now - timedelta(hours=1), 60, lambda b, a: a, rng, "live")
    observations_ingest(actor=people["sam"], records=before + after)
    plan = {
        w.workflow_id: w
        for w in impact_plan_build(
            actor=people["maya"], environment=env, from_release=live.release, to_release=previous.release
        )
    }
    dependent_workflow_add(
        actor=people["ines"],
        environment=env,
        release=live.release,
        workflow_id="month-end-close",
        name="Month-end close export",
        customer="umbrella",
        behaviour=Behaviour.OUTPUT_FORMAT,
        downstream_system="SAP FI invoice import",
        contact="finance-ops@umbrella.example",
        migration_path="Their importer needs line_items; keep them pinned to this release until it is optional.",
        evidence="FIN-240: import fails without line_items",
    )
    if "vendor-sync" in plan:
        impact_review(
            actor=people["sam"], workflow=plan["vendor-sync"], status="accepted", note="Same format both ways"
        )
