"""The Django admin site: staff status lets a person sign in to it, the "admin" rule of the permission table
decides whether they may use it (a staff member with a lower role is refused, like everywhere else)."""

from __future__ import annotations

from django.contrib import admin

from core.permissions import can


class RewindAdminSite(admin.AdminSite):
    def has_permission(self, request) -> bool:
        return super().has_permission(request) and can(request.user, "admin")
