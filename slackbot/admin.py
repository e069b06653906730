"""Read-only views of what the bot remembers (useful when asking "did the reminder go out?")."""

from django.contrib import admin

from slackbot.models import SlackEventReceipt, SlackMessage, SlackTimelinePin


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(SlackMessage)
class SlackMessageAdmin(ReadOnlyAdmin):
    list_display = ("purpose_key", "channel", "ts", "thread_ts", "created_at", "updated_at")
    search_fields = ("purpose_key", "channel", "ts")


@admin.register(SlackEventReceipt)
class SlackEventReceiptAdmin(ReadOnlyAdmin):
    list_display = ("event_id", "event_type", "received_at")
    search_fields = ("event_id",)


@admin.register(SlackTimelinePin)
class SlackTimelinePinAdmin(ReadOnlyAdmin):
    list_display = ("incident_id", "channel", "message_ts", "created_at")
