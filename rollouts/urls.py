from django.urls import path

from rollouts import views

app_name = "rollouts"

urlpatterns = [
    path("features/", views.feature_list, name="feature_list"),
]
