from django.urls import path
from rest_framework.routers import SimpleRouter

from rollouts.api.observation_views import ObservationIngestView

router = SimpleRouter()

urlpatterns = [
    path("observations", ObservationIngestView.as_view(), name="observations-ingest"),
    *router.urls,
]
