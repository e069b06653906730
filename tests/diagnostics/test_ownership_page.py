from __future__ import annotations

import pytest

from core.models import AuditEntry


@pytest.mark.parametrize(
    ("role", "can_set"), [("viewer", False), ("responder", False), ("approver", True), ("admin_user", True)]
)
def test_the_ownership_map_page_and_who_may_change_it(request, web_as, feature, layer_owners, role, can_set):
    user = request.getfixturevalue(role)
    client = web_as(user)
    page = client.get("/ownership/").content.decode()
    assert "support-assistant" in page and "Mo" in page and "Pia" in page
    assert ('action="/ownership/set/"' in page) == can_set
    response = client.post("/ownership/set/", {"feature": "support-assistant", "layer": "model", "owner": user.pk})
    assert response.status_code == (302 if can_set else 403)
    assert (feature.layer_owners.get(layer="model").owner == user) == can_set
    assert AuditEntry.objects.filter(action="ownership.set", after__owner=user.username).exists() == can_set


def test_a_feature_without_owners_shows_the_gap(web_as, viewer, team):
    from rollouts.models import Feature

    Feature.objects.create(slug="lonely", name="Lonely", team=team)
    assert "no owner" in web_as(viewer).get("/ownership/").content.decode()
