from django.urls import path

from incidents.alerts import hooks, views

urlpatterns = [
    path("hooks/<slug:kind>/<slug:slug>", hooks.receive, name="alert_hook"),
    path("integrations/", views.integrations, name="integrations"),
    path("integrations/sources/new/", views.source_create, name="alert_source_create"),
    path("integrations/sources/<slug:slug>/", views.source_detail, name="alert_source_detail"),
    path("integrations/sources/<slug:slug>/secret/", views.source_rotate_secret, name="alert_source_secret"),
    path("integrations/sources/<slug:slug>/routes/", views.route_create, name="alert_route_create"),
    path("integrations/routes/<int:pk>/delete/", views.route_delete, name="alert_route_delete"),
    path("integrations/targets/new/", views.target_create, name="change_target_create"),
    path("integrations/targets/<int:pk>/", views.target_detail, name="change_target_detail"),
]
