from __future__ import annotations

from django.core.management import call_command

from core.models import AuditEntry
from rollouts.models import DeploymentEvent, Feature, Release


def _counts():
    return (Release.objects.count(), DeploymentEvent.objects.count(), AuditEntry.objects.count())


def test_demo_data_is_realistic_and_loading_it_twice_changes_nothing(db, client):
    call_command("demo_data", stdout=None)
    first = _counts()
    call_command("demo_data", stdout=None)
    assert _counts() == first
    support = Feature.objects.get(slug="support-assistant")
    invoices = Feature.objects.get(slug="invoice-extractor")
    assert support.releases.count() == 6 and invoices.releases.count() == 6
    assert "precision changed from bf16 to int4/AWQ" in support.eval_baseline_stale_reason
    assert "alias 'gpt-4o' now resolves to 'gpt-4o-2024-08-06'" in invoices.eval_baseline_stale_reason
    rollback = DeploymentEvent.objects.get(is_rollback=True)
    assert rollback.environment.name == "production" and rollback.release.number == 5
    assert support.releases.get(number=5).adapters.filter(name="support-tone-lora").exists()
    client.login(username="vik", password="demo-rewind")
    old, new = support.releases.filter(number__in=[3, 4]).order_by("number").values_list("pk", flat=True)
    page = client.get(f"/features/support-assistant/diff/?old={old}&new={new}")
    assert "embedding model changed (index rebuilt)" in page.content.decode()
