from django.urls import path

from rollouts.integrations import views

# Mounted under /api/v1/.
urlpatterns = [
    path("judge/<slug:feature>/<slug:environment>", views.JudgeStatusView.as_view(), name="judge-status"),
    path("flagger/<slug:feature>/<slug:environment>/<slug:hook>", views.FlaggerHookView.as_view(), name="flagger-hook"),
]
