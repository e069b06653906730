from django.urls import path
from rest_framework.routers import SimpleRouter

from rollouts.api import views
from rollouts.api.observation_views import ObservationIngestView

router = SimpleRouter()
router.register("runs", views.RolloutRunViewSet, basename="run")
router.register("webhook-targets", views.WebhookTargetViewSet, basename="webhook-target")

urlpatterns = [
    path("rollbacks", views.rollback, name="api-rollback"),
    path("routing/<slug:feature>/<slug:environment>", views.routing_table, name="api-routing"),
    path("observations", ObservationIngestView.as_view(), name="observations-ingest"),
    *router.urls,
]
