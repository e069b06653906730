from django.urls import path
from rest_framework.routers import SimpleRouter

from core import api_views

router = SimpleRouter()
router.register("audit", api_views.AuditEntryViewSet, basename="audit")

urlpatterns = [path("me", api_views.me, name="api-me"), *router.urls]
