"""Serializers of /api/v1/managed/…; secrets are never returned (content has none)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from managed.models import (
    BaselineRevision,
    BaselineTarget,
    Blueprint,
    BlueprintRevision,
    BlueprintTarget,
    Customer,
    Downstream,
    InstanceBaseline,
    Split,
    TemplateProject,
    TemplateRevision,
)


class BlueprintSerializer(serializers.ModelSerializer[Blueprint]):
    management_space_id = serializers.UUIDField(required=False, allow_null=True)
    document = serializers.JSONField(write_only=True, help_text="The blueprint's document")
    tags = serializers.SerializerMethodField()

    class Meta:
        model = Blueprint
        fields = [
            "id", "name", "slug", "description", "management_space_id", "on_drift",
            "regions", "tags", "latest_revision", "created_at", "updated_at", "document",
        ]  # fmt: skip
        read_only_fields = ["slug", "regions", "latest_revision", "created_at", "updated_at"]

    def get_tags(self, obj: Blueprint) -> list[str]:
        return sorted(t.name for t in obj.instance_tags.all())


class BlueprintUpdateSerializer(serializers.Serializer[Any]):
    description = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    on_drift = serializers.ChoiceField(choices=Blueprint.OnDrift.choices, required=False)
    document = serializers.JSONField(required=False)
    comment = serializers.CharField(required=False, allow_blank=True, max_length=300)


class BlueprintRevisionSerializer(serializers.ModelSerializer[BlueprintRevision]):
    class Meta:
        model = BlueprintRevision
        fields = ["number", "content", "comment", "created_at"]


class AssignSerializer(serializers.Serializer[Any]):
    spaces = serializers.ListField(child=serializers.UUIDField(), max_length=5000)


class RulesSerializer(serializers.Serializer[Any]):
    tags = serializers.ListField(
        child=serializers.CharField(max_length=50), required=False, max_length=200
    )
    regions = serializers.ListField(
        child=serializers.CharField(max_length=100), required=False, max_length=200
    )


class ApplySerializer(serializers.Serializer[Any]):
    prune = serializers.BooleanField(required=False, default=False)
    spaces = serializers.ListField(
        child=serializers.UUIDField(), required=False, max_length=5000, allow_empty=False
    )


class QueuedSerializer(serializers.Serializer[Any]):
    queued = serializers.IntegerField()


# "Target" alone collides with rollouts' wave targets in the one OpenAPI schema.
@extend_schema_serializer(component_name="BlueprintTarget")
class TargetSerializer(serializers.ModelSerializer[BlueprintTarget]):
    blueprint_id = serializers.UUIDField(read_only=True)
    space_id = serializers.UUIDField(read_only=True)
    space_name = serializers.CharField(source="space.name", read_only=True)

    class Meta:
        model = BlueprintTarget
        fields = [
            "id", "blueprint_id", "space_id", "space_name", "via", "status", "target_revision",
            "applied_revision", "plan", "planned_at", "planned_revision", "drift", "checked_at",
            "failures", "next_attempt_at", "last_error", "applied_at", "created",
        ]  # fmt: skip
        read_only_fields = fields


class TemplateSerializer(serializers.ModelSerializer[TemplateProject]):
    space_id = serializers.UUIDField()
    project_name = serializers.CharField(write_only=True, max_length=200)

    class Meta:
        model = TemplateProject
        fields = ["id", "space_id", "name", "octopus_project_id", "latest_revision",
                  "created_at", "project_name"]  # fmt: skip
        read_only_fields = ["name", "octopus_project_id", "latest_revision", "created_at"]


class TemplateRevisionSerializer(serializers.ModelSerializer[TemplateRevision]):
    class Meta:
        model = TemplateRevision
        fields = ["number", "document", "created_at"]


class DownstreamSerializer(serializers.ModelSerializer[Downstream]):
    space_id = serializers.UUIDField()
    overrides = serializers.JSONField(required=False)

    class Meta:
        model = Downstream
        fields = [
            "id", "space_id", "mode", "pinned_revision", "overrides", "octopus_project_id",
            "status", "target_revision", "applied_revision", "conflicts", "missing",
            "needs_values", "last_error", "pushed_at",
        ]  # fmt: skip
        read_only_fields = [
            "octopus_project_id", "status", "target_revision", "applied_revision", "conflicts",
            "missing", "needs_values", "last_error", "pushed_at",
        ]  # fmt: skip


class ResolveSerializer(serializers.Serializer[Any]):
    key = serializers.CharField(max_length=500)
    choice = serializers.ChoiceField(choices=["upstream", "downstream"])


class PushSerializer(serializers.Serializer[Any]):
    downstreams = serializers.ListField(
        child=serializers.UUIDField(), required=False, max_length=5000, allow_empty=False
    )
    revision = serializers.IntegerField(required=False, min_value=1, max_value=2**31 - 1)


class DiffQuerySerializer(serializers.Serializer[Any]):
    to = serializers.IntegerField(required=False, min_value=1, max_value=2**31 - 1)
    from_ = serializers.IntegerField(required=False, min_value=0, max_value=2**31 - 1)


class ValuesSerializer(serializers.Serializer[Any]):
    values = serializers.DictField(child=serializers.CharField(allow_blank=True, max_length=10000))


class NewSpaceSerializer(serializers.Serializer[Any]):
    instance_id = serializers.UUIDField()
    name = serializers.CharField(max_length=100)


class SplitSerializer(serializers.ModelSerializer[Split]):
    source_id = serializers.UUIDField()
    target_id = serializers.UUIDField(required=False)
    new_space = NewSpaceSerializer(required=False, write_only=True)
    projects = serializers.ListField(
        child=serializers.CharField(max_length=200), min_length=1, max_length=500
    )

    class Meta:
        model = Split
        fields = [
            "id", "source_id", "target_id", "new_space", "projects", "source_action", "status",
            "plan", "needs_values", "verification", "source_done", "failures", "last_error",
            "created_at", "finished_at",
        ]  # fmt: skip
        read_only_fields = [
            "status", "plan", "needs_values", "verification", "source_done", "failures",
            "last_error", "created_at", "finished_at",
        ]  # fmt: skip

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if bool(attrs.get("target_id")) == bool(attrs.get("new_space")):
            raise serializers.ValidationError(
                {"target_id": ["Give target_id or new_space (not both)."]}
            )
        return attrs


class CustomerSerializer(serializers.ModelSerializer[Customer]):
    management_space_id = serializers.UUIDField()
    group_id = serializers.UUIDField(required=False, allow_null=True)
    blueprint_id = serializers.UUIDField(required=False, allow_null=True)
    facade_space_id = serializers.UUIDField(read_only=True)
    instance_id = serializers.UUIDField(required=False, write_only=True)
    api_key = serializers.CharField(
        required=False, write_only=True, allow_blank=True, max_length=200
    )
    api_key_set = serializers.SerializerMethodField()

    class Meta:
        model = Customer
        fields = [
            "id", "name", "management_space_id", "group_id", "blueprint_id", "facade_space_id",
            "instance_id", "api_key", "api_key_set", "key_source", "service_user_id",
            "service_team_id", "tenant_id", "facades", "orphans", "notes", "status",
            "last_error", "synced_at", "created_at",
        ]  # fmt: skip
        read_only_fields = [
            "key_source", "service_user_id", "service_team_id", "tenant_id", "facades",
            "orphans", "notes", "status", "last_error", "synced_at", "created_at",
        ]  # fmt: skip

    def get_api_key_set(self, obj: Customer) -> bool:
        return bool(obj.api_key)


class ResyncSerializer(serializers.Serializer[Any]):
    api_key = serializers.CharField(required=False, allow_blank=True, max_length=200)


# ---------------------------------------------------------------- instance baselines


class BaselineSerializer(serializers.ModelSerializer[InstanceBaseline]):
    document = serializers.JSONField(write_only=True, help_text="The baseline's document")
    tags = serializers.SerializerMethodField()

    class Meta:
        model = InstanceBaseline
        fields = [
            "id", "name", "slug", "description", "on_drift", "all_instances", "regions", "tags",
            "latest_revision", "created_at", "updated_at", "document",
        ]  # fmt: skip
        read_only_fields = [
            "slug", "all_instances", "regions", "latest_revision", "created_at", "updated_at",
        ]  # fmt: skip

    def get_tags(self, obj: InstanceBaseline) -> list[str]:
        return sorted(t.name for t in obj.instance_tags.all())


class BaselineUpdateSerializer(serializers.Serializer[Any]):
    description = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    on_drift = serializers.ChoiceField(choices=InstanceBaseline.OnDrift.choices, required=False)
    document = serializers.JSONField(required=False)
    comment = serializers.CharField(required=False, allow_blank=True, max_length=300)


class BaselineRevisionSerializer(serializers.ModelSerializer[BaselineRevision]):
    class Meta:
        model = BaselineRevision
        fields = ["number", "content", "comment", "created_at"]


class BaselineAssignSerializer(serializers.Serializer[Any]):
    instances = serializers.ListField(child=serializers.UUIDField(), max_length=5000)


class BaselineRulesSerializer(RulesSerializer):
    all_instances = serializers.BooleanField(required=False, default=False)


class BaselineApplySerializer(serializers.Serializer[Any]):
    prune = serializers.BooleanField(required=False, default=False)
    instances = serializers.ListField(
        child=serializers.UUIDField(), required=False, max_length=5000, allow_empty=False
    )


class BaselineTargetSerializer(serializers.ModelSerializer[BaselineTarget]):
    baseline_id = serializers.UUIDField(read_only=True)
    instance_id = serializers.UUIDField(read_only=True)
    instance_name = serializers.CharField(source="instance.name", read_only=True)

    class Meta:
        model = BaselineTarget
        fields = [
            "id", "baseline_id", "instance_id", "instance_name", "via", "status",
            "target_revision", "applied_revision", "prune", "plan", "planned_at",
            "planned_revision", "drift", "checked_at", "failures", "next_attempt_at",
            "last_error", "applied_at",
        ]  # fmt: skip
        read_only_fields = fields
