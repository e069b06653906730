from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from core.models import AuditEntry, Team, User


@admin.register(User)
class RewindUserAdmin(UserAdmin):
    fieldsets = (*UserAdmin.fieldsets, ("Rewind", {"fields": ("role", "slack_user_id")}))
    list_display = ("username", "email", "role", "is_active")
    list_filter = ("role", "is_active")


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "slack_channel")
    filter_horizontal = ("members",)


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ("created_at", "actor_label", "action", "object_type", "object_repr")
    list_filter = ("action", "object_type")
    search_fields = ("object_repr", "actor_label", "action")

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
