from django.urls import path

from rollouts import impact_web, views

app_name = "rollouts"

urlpatterns = [
    path("features/", views.feature_list, name="feature_list"),
    path("features/<slug:slug>/<slug:env>/impact/", impact_web.impact_page, name="impact_page"),
    path("features/<slug:slug>/<slug:env>/impact/add/", impact_web.impact_add, name="impact_add"),
    path("features/<slug:slug>/<slug:env>/impact/waive/", impact_web.impact_waive_view, name="impact_waive"),
    path(
        "features/<slug:slug>/<slug:env>/impact/<int:pk>/review/",
        impact_web.impact_review_view,
        name="impact_review",
    ),
]
