"""API of behaviour-diff reports; included by diagnostics/api/urls.py under /api/v1/."""

from rest_framework.routers import SimpleRouter

from diagnostics.reports.api import views

router = SimpleRouter()
router.register("prompt-sets", views.PromptSetViewSet, basename="prompt-set")
router.register("prompt-set-versions", views.PromptSetVersionViewSet, basename="prompt-set-version")
router.register("reports", views.ReportViewSet, basename="report")
router.register("generation-endpoints", views.GenerationEndpointViewSet, basename="generation-endpoint")

urlpatterns = [*router.urls]
