"""Pages of behaviour-diff reports; included by diagnostics/urls.py inside the "diagnostics" namespace."""

from __future__ import annotations

from django.urls import path

from diagnostics.reports import views

urlpatterns = [
    path("prompt-sets/", views.prompt_set_list, name="prompt_set_list"),
    path("prompt-sets/versions/<int:pk>/", views.prompt_set_version_detail, name="prompt_set_version_detail"),
    path("reports/", views.report_list, name="report_list"),
    path("reports/endpoints/", views.endpoint_list, name="endpoint_list"),
    path("reports/new/", views.report_new, name="report_new"),
    path("reports/compare/", views.report_compare, name="report_compare"),
    path("reports/<int:pk>/", views.report_detail, name="report_detail"),
    path("reports/<int:pk>/cancel/", views.report_cancel, name="report_cancel"),
    path("reports/<int:pk>/links/", views.report_link, name="report_link"),
    path("reports/<int:pk>/export.<str:fmt>", views.report_export, name="report_export"),
]
