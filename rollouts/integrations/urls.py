from django.urls import path

from rollouts.integrations import views

# Mounted at the site root: the paths Prometheus and OTLP exporters use by default.
urlpatterns = [
    path("metrics", views.metrics, name="metrics"),
    path("v1/traces", views.otlp_traces, name="otlp-traces"),
]
