from django.urls import path

from rollouts import run_views, views

app_name = "rollouts"

urlpatterns = [
    path("features/", views.feature_list, name="feature_list"),
    path("rollouts/", run_views.run_list, name="run_list"),
    path("rollouts/<int:pk>/", run_views.run_detail, name="run_detail"),
    path("rollouts/<int:pk>/<slug:action>/", run_views.run_control, name="run_control"),
    path("features/<slug:slug>/<slug:env>/rollback/plan", run_views.rollback_plan, name="rollback_plan"),
    path("features/<slug:slug>/<slug:env>/rollback/", run_views.rollback_submit, name="rollback_submit"),
]
