from django.urls import include, path

from diagnostics import views
from diagnostics.reports import incident_views

app_name = "diagnostics"

urlpatterns = [
    path("ownership/", views.ownership_map, name="ownership_map"),
    path("ownership/set/", views.ownership_set, name="ownership_set"),
    path("diagnoses/<int:pk>/assign/", views.assign_owner, name="assign_owner"),
    path("diagnoses/<int:pk>/verdict/", views.set_verdict, name="set_verdict"),
    path("diagnoses/<int:pk>/evidence/", views.add_evidence, name="add_evidence"),
    path("diagnoses/<int:pk>/checklist/", views.answer_checklist, name="answer_checklist"),
    path("reports/attach-evidence/", incident_views.incident_report_attach, name="incident_report_attach"),
    path("", include("diagnostics.reports.urls")),
]
