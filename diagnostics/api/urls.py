from django.urls import include, path
from rest_framework.routers import SimpleRouter

router = SimpleRouter()

urlpatterns = [*router.urls, path("", include("diagnostics.reports.api.urls"))]
