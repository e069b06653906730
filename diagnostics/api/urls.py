from rest_framework.routers import SimpleRouter

from diagnostics.api import views

router = SimpleRouter()
router.register("layer-diagnoses", views.LayerDiagnosisViewSet, basename="layer-diagnosis")
router.register("ownership", views.LayerOwnerViewSet, basename="layer-owner")

urlpatterns = [*router.urls]
