from rest_framework.routers import SimpleRouter

from rollouts.api import views

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

urlpatterns = [*router.urls]
