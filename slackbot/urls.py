from django.urls import path

from slackbot import views

app_name = "slackbot"

urlpatterns = [
    path("commands", views.commands, name="commands"),
    path("interactivity", views.interactivity, name="interactivity"),
    path("events", views.events, name="events"),
]
