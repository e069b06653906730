from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic.base import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from core import views as core_views

api_v1 = [
    path("", include("core.api_urls")),
    path("", include("rollouts.api.urls")),
    path("", include("incidents.api.urls")),
    path("", include("diagnostics.api.urls")),
    path("", include("rollouts.integrations.api_urls")),
    path("", include("incidents.alerts.api.urls")),
]

urlpatterns = [
    path("", core_views.home, name="home"),
    path("healthz", core_views.healthz, name="healthz"),
    path("favicon.ico", RedirectView.as_view(url=static("favicon.svg"), permanent=True)),
    path("login/", auth_views.LoginView.as_view(template_name="core/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves its start-up script as a file, so the Content-Security-Policy needs no inline script.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="swagger-ui"),
    path("", include("rollouts.urls")),
    path("", include("incidents.urls")),
    path("", include("diagnostics.urls")),
    path("slack/", include("slackbot.urls")),
    path("", include("rollouts.integrations.urls")),
    path("", include("incidents.alerts.urls")),
]

handler403 = "core.views.permission_denied"
handler404 = "core.views.page_not_found"
