from django.urls import path
from rest_framework.routers import SimpleRouter

from rollouts.impact.api.views import DependentWorkflowViewSet, ImpactFollowupView, ImpactGateView, ImpactWaiveView
from rollouts.judging.api.views import ObservationIngestView
from rollouts.registry.api import views
from rollouts.runs.api import views as run_views

router = SimpleRouter()
router.trailing_slash = "/?"  # CI scripts may leave the slash off: /features/x/environments/prod/live
router.register("features", views.FeatureViewSet, basename="feature")
router.register("environments", views.EnvironmentViewSet, basename="environment")
router.register("model-versions", views.ModelVersionViewSet, basename="model-version")
router.register("prompt-versions", views.PromptVersionViewSet, basename="prompt-version")
router.register("adapter-versions", views.AdapterVersionViewSet, basename="adapter-version")
router.register("index-versions", views.IndexVersionViewSet, basename="index-version")
router.register("releases", views.ReleaseViewSet, basename="release")
router.register("deployments", views.DeploymentEventViewSet, basename="deployment")
router.register("runs", run_views.RolloutRunViewSet, basename="run")
router.register("webhook-targets", run_views.WebhookTargetViewSet, basename="webhook-target")
router.register("dependent-workflows", DependentWorkflowViewSet, basename="dependent-workflow")

urlpatterns = [
    path("rollbacks", run_views.rollback, name="api-rollback"),
    path("routing/<slug:feature>/<slug:environment>", run_views.routing_table, name="api-routing"),
    path("observations", ObservationIngestView.as_view(), name="observations-ingest"),
    path("impact/waive", ImpactWaiveView.as_view(), name="impact-waive"),
    path("impact/gate", ImpactGateView.as_view(), name="impact-gate"),
    path("impact/followups/<int:pk>", ImpactFollowupView.as_view(), name="impact-followup"),
    *router.urls,
]
