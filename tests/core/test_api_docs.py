from __future__ import annotations

import re


def test_swagger_ui_loads_with_no_external_urls(client, viewer):
    client.force_login(viewer)
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html
    assert not re.findall(r"""(?:src|href)=["']?(?:https?:)?//""", html), "no CDN assets"
    assert "cdn.jsdelivr" not in html and "unpkg" not in html
    for asset in re.findall(r"""(?:src|href)="(/static/[^"]+)""", html):
        assert client.get(asset).status_code == 200, asset


def test_the_schema_lists_the_timeline_endpoints(client, viewer):
    client.force_login(viewer)
    schema = client.get("/api/schema/?format=json").json()
    assert "/api/v1/features/{slug}/environments/{environment}/live/" in schema["paths"]
    assert "/api/v1/releases/{id}/diff/{other_id}/" in schema["paths"]
