"""The demo's Alertmanager source and the README's one-curl example."""

from __future__ import annotations

import json
import re
from pathlib import Path

from core.demo import load_people
from diagnostics.models import LayerDiagnosis
from incidents.alerts import demo
from incidents.models import AlertSource, Incident

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_curl_body() -> dict:
    line = next(x for x in README.read_text().splitlines() if "/hooks/alertmanager/demo-alertmanager" in x)
    assert "Authorization: Bearer demo-alert-secret" in line
    return json.loads(re.search(r"-d '(.+)'", line).group(1))


def test_the_readme_curl_opens_an_incident_on_the_demo_source_then_dedupes(client, production, layer_owners):
    people = load_people()
    demo.load(people)
    demo.load(people)  # idempotent
    assert AlertSource.objects.filter(slug="demo-alertmanager").count() == 1
    body = readme_curl_body()
    for expected in ("opened", "deduplicated"):
        response = client.post(
            "/hooks/alertmanager/demo-alertmanager",
            data=json.dumps(body),
            content_type="application/json",
            HTTP_AUTHORIZATION="Bearer demo-alert-secret",
        )
        assert response.status_code == 200, response.content
        assert response.json()["outcome"] == expected
    incident = Incident.objects.get()
    assert incident.feature_environments.get() == production
    assert not LayerDiagnosis.objects.filter(incident=incident, owner__isnull=True).exists()
