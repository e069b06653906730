from django.urls import path

from incidents import action_item_views, postmortem_views, views
from incidents.dashboard_views import urlpatterns as dashboard_urlpatterns

app_name = "incidents"

urlpatterns = [
    path("incidents/", views.incident_list, name="list"),
    path("incidents/new/", views.incident_create, name="create"),
    path("incidents/<int:pk>/", views.incident_detail, name="detail"),
    path("incidents/<int:pk>/timeline/", views.incident_timeline, name="timeline"),
    path("incidents/<int:pk>/transition/", views.incident_transition, name="transition"),
    path("incidents/<int:pk>/edit/", views.incident_edit, name="edit"),
    path("incidents/<int:pk>/notes/", views.incident_add_note, name="add_note"),
    path("incidents/<int:pk>/action-items/", views.action_item_create, name="action_item_create"),
    path("incidents/<int:pk>/postmortem/", postmortem_views.postmortem_edit, name="postmortem"),
    path("incidents/<int:pk>/postmortem/submit/", postmortem_views.postmortem_submit, name="postmortem_submit"),
    path("incidents/<int:pk>/postmortem/publish/", postmortem_views.postmortem_publish, name="postmortem_publish"),
    path("incidents/<int:pk>/postmortem.md", postmortem_views.postmortem_markdown, name="postmortem_markdown"),
    path("incidents/<int:pk>/postmortem/print/", postmortem_views.postmortem_print, name="postmortem_print"),
    path("timeline-events/<int:pk>/edit/", views.note_edit, name="note_edit"),
    path("action-items/", action_item_views.action_item_board, name="action_item_board"),
    path("action-items/<int:pk>/", action_item_views.action_item_row, name="action_item_row"),
    path("action-items/<int:pk>/edit/", action_item_views.action_item_edit, name="action_item_edit"),
    path("action-items/<int:pk>/status/", action_item_views.action_item_status, name="action_item_status"),
]

# The manager dashboard's pages live beside its views (incidents/dashboard_views.py).
urlpatterns += dashboard_urlpatterns
