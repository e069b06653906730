app_name = "incidents"

urlpatterns: list = []

# Manager dashboard (issue 3, item 9): its own module, appended so parallel edits above do not collide.
from incidents.dashboard_views import urlpatterns as dashboard_urlpatterns  # noqa: E402

urlpatterns += dashboard_urlpatterns
