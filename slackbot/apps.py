from django.apps import AppConfig


class SlackbotConfig(AppConfig):
    name = "slackbot"
    verbose_name = "Slack bot"
