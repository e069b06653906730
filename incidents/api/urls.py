from rest_framework.routers import SimpleRouter

from incidents.api import views

router = SimpleRouter()
router.register("incidents", views.IncidentViewSet, basename="incident")
router.register("timeline-events", views.TimelineEventViewSet, basename="timeline-event")
router.register("action-items", views.ActionItemViewSet, basename="action-item")
router.register("change-events", views.ChangeEventViewSet, basename="change-event")
router.register("postmortems", views.PostmortemViewSet, basename="postmortem")

urlpatterns = [*router.urls]
