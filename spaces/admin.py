from django.contrib import admin
from django.db import models

from spaces.models import Instance, Space, StandardEnvironment, Tag


@admin.register(Instance)
class InstanceAdmin(admin.ModelAdmin[Instance]):
    list_display = ["name", "base_url", "region", "status", "version"]
    search_fields = ["name", "base_url", "region"]
    # The key is write-only: change it with the "Rotate API key" page.
    exclude = ["api_key"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    readonly_fields = ["installation_id", "status", "status_since", "version", "last_seen_at"]


@admin.register(Space)
class SpaceAdmin(admin.ModelAdmin[Space]):
    list_display = ["name", "instance", "octopus_id", "state"]
    list_filter = ["state"]
    search_fields = ["name", "octopus_id", "instance__name"]
    readonly_fields = ["instance", "octopus_id"]


@admin.register(StandardEnvironment)
class StandardEnvironmentAdmin(admin.ModelAdmin[StandardEnvironment]):
    list_display = ["name", "position"]


admin.site.register(Tag)
