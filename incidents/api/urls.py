from rest_framework.routers import SimpleRouter

from incidents.api import views
from incidents.dashboard_views import api_urlpatterns as dashboard_api_urlpatterns

router = SimpleRouter()
router.register("incidents", views.IncidentViewSet, basename="incident")
router.register("timeline-events", views.TimelineEventViewSet, basename="timeline-event")
router.register("action-items", views.ActionItemViewSet, basename="action-item")
router.register("change-events", views.ChangeEventViewSet, basename="change-event")
router.register("postmortems", views.PostmortemViewSet, basename="postmortem")

# The manager dashboard's endpoints live beside its views (incidents/dashboard_views.py).
urlpatterns = [*router.urls, *dashboard_api_urlpatterns]
