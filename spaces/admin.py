"""Registry rows in the Django admin: read-only. Instances and spaces change through ODCM's
pages, API and services (audited; a URL change re-verifies the key first)."""

from django.contrib import admin
from django.db import models

from odcm.adminsite import ReadOnlyAdmin
from spaces.models import Instance, Project, Space, StandardEnvironment, Tag


@admin.register(Instance)
class InstanceAdmin(ReadOnlyAdmin):
    list_display = ["name", "base_url", "region", "status", "version"]
    search_fields = ["name", "base_url", "region"]
    # The key is write-only: change it with the "Rotate API key" page.
    exclude = ["api_key"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}


@admin.register(Space)
class SpaceAdmin(ReadOnlyAdmin):
    list_display = ["name", "instance", "octopus_id", "state"]
    list_filter = ["state"]
    search_fields = ["name", "octopus_id", "instance__name"]


@admin.register(Project)
class ProjectAdmin(ReadOnlyAdmin):
    list_display = ["name", "space", "octopus_id", "group_name", "is_disabled"]
    search_fields = ["name", "octopus_id", "space__name"]
    list_select_related = ["space__instance"]


@admin.register(StandardEnvironment)
class StandardEnvironmentAdmin(ReadOnlyAdmin):
    list_display = ["name", "position"]


@admin.register(Tag)
class TagAdmin(ReadOnlyAdmin):
    search_fields = ["name"]
