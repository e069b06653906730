from django.urls import path

from rollouts.impact import views as impact_web
from rollouts.registry import views
from rollouts.runs import views as run_views

app_name = "rollouts"

urlpatterns = [
    path("features/", views.feature_list, name="feature_list"),
    path("features/<slug:slug>/", views.feature_detail, name="feature_detail"),
    path("features/<slug:slug>/diff/", views.release_diff, name="release_diff"),
    path("features/<slug:slug>/releases/new/", views.release_create, name="release_create"),
    path("features/<slug:slug>/deployments/new/", views.deployment_create, name="deployment_create"),
    path("releases/<int:pk>/", views.release_detail, name="release_detail"),
    path("versions/<slug:kind>/new/", views.version_register, name="version_register"),
    path("rollouts/", run_views.run_list, name="run_list"),
    path("rollouts/<int:pk>/", run_views.run_detail, name="run_detail"),
    path("rollouts/<int:pk>/<slug:action>/", run_views.run_control, name="run_control"),
    path("features/<slug:slug>/<slug:env>/rollback/plan", run_views.rollback_plan, name="rollback_plan"),
    path("features/<slug:slug>/<slug:env>/rollback/", run_views.rollback_submit, name="rollback_submit"),
    path("features/<slug:slug>/<slug:env>/impact/", impact_web.impact_page, name="impact_page"),
    path("features/<slug:slug>/<slug:env>/impact/add/", impact_web.impact_add, name="impact_add"),
    path("features/<slug:slug>/<slug:env>/impact/plan/", impact_web.impact_plan_view, name="impact_plan"),
    path("features/<slug:slug>/<slug:env>/impact/waive/", impact_web.impact_waive_view, name="impact_waive"),
    path(
        "features/<slug:slug>/<slug:env>/impact/<int:pk>/review/",
        impact_web.impact_review_view,
        name="impact_review",
    ),
]
