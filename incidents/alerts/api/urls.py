from rest_framework.routers import SimpleRouter

from incidents.alerts.api import views

router = SimpleRouter()
router.register("alert-sources", views.AlertSourceViewSet, basename="alert-source")
router.register("alert-routes", views.AlertRouteViewSet, basename="alert-route")
router.register("alert-notifications", views.AlertNotificationViewSet, basename="alert-notification")
router.register("change-event-targets", views.ChangeEventTargetViewSet, basename="change-event-target")
router.register("change-event-deliveries", views.ChangeEventDeliveryViewSet, basename="change-event-delivery")

urlpatterns = [*router.urls]
