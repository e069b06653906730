from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from core import views as core_views

api_v1 = [
    path("", include("core.api_urls")),
    path("", include("rollouts.api.urls")),
    path("", include("incidents.api.urls")),
    path("", include("diagnostics.api.urls")),
    path("", include("incidents.alerts.api.urls")),
]

urlpatterns = [
    path("", core_views.home, name="home"),
    path("healthz", core_views.healthz, name="healthz"),
    path("login/", auth_views.LoginView.as_view(template_name="core/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("", include("rollouts.urls")),
    path("", include("incidents.urls")),
    path("", include("diagnostics.urls")),
    path("slack/", include("slackbot.urls")),
    path("", include("incidents.alerts.urls")),
]
