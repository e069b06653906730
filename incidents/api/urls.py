from rest_framework.routers import SimpleRouter

router = SimpleRouter()

urlpatterns = [*router.urls]

# Manager dashboard (issue 3, item 9): appended so parallel edits above do not collide.
from incidents.dashboard_views import api_urlpatterns as dashboard_api_urlpatterns  # noqa: E402

urlpatterns += dashboard_api_urlpatterns
