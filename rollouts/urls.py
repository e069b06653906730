from django.urls import path

from rollouts import views

app_name = "rollouts"

urlpatterns = [
    path("features/", views.feature_list, name="feature_list"),
    path("features/<slug:slug>/", views.feature_detail, name="feature_detail"),
    path("features/<slug:slug>/diff/", views.release_diff, name="release_diff"),
    path("features/<slug:slug>/releases/new/", views.release_create, name="release_create"),
    path("features/<slug:slug>/deployments/new/", views.deployment_create, name="deployment_create"),
    path("releases/<int:pk>/", views.release_detail, name="release_detail"),
    path("versions/<slug:kind>/new/", views.version_register, name="version_register"),
]
