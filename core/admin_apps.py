"""Django admin, installed on the site that applies the "admin" rule (core.admin_site)."""

from django.contrib.admin.apps import AdminConfig


class RewindAdminConfig(AdminConfig):
    default_site = "core.admin_site.RewindAdminSite"
