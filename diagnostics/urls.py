from __future__ import annotations

from django.urls import include, path

app_name = "diagnostics"

urlpatterns: list = [
    path("", include("diagnostics.reports.urls")),
]
