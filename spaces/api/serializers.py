"""Serializers of /api/v1/instances, /spaces and /favourites. API keys are write-only."""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any

from rest_framework import serializers

from identity.models import Group
from spaces.models import Favourite, Instance, Space


class InstanceSerializer(serializers.ModelSerializer[Instance]):
    tags = serializers.SerializerMethodField()
    url = serializers.CharField(source="base_url", read_only=True)

    class Meta:
        model = Instance
        fields = [
            "id", "name", "slug", "url", "region", "description", "tags", "installation_id",
            "status", "status_since", "version", "last_seen_at", "enlist_new_spaces",
            "spaces_refreshed_at", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_tags(self, obj: Instance) -> list[str]:
        return sorted(t.name for t in obj.tags.all())


class EnlistSerializer(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=100)
    url = serializers.CharField(max_length=500)
    api_key = serializers.CharField(max_length=200, write_only=True)
    region = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    description = serializers.CharField(required=False, allow_blank=True, default="")
    tags = serializers.ListField(child=serializers.CharField(max_length=50), required=False)
    spaces = serializers.ListField(
        child=serializers.CharField(max_length=50),
        required=False,
        help_text="Octopus ids of the spaces to enlist (default: all).",
    )


class InstanceUpdateSerializer(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=100, required=False)
    region = serializers.CharField(max_length=100, required=False, allow_blank=True)
    description = serializers.CharField(required=False, allow_blank=True)
    enlist_new_spaces = serializers.BooleanField(required=False)
    tags = serializers.ListField(child=serializers.CharField(max_length=50), required=False)
    api_key = serializers.CharField(
        max_length=200, write_only=True, required=False, help_text="Tested before it is stored."
    )


class SpaceSerializer(serializers.ModelSerializer[Space]):
    instance = serializers.UUIDField(source="instance_id", read_only=True)  # type: ignore[assignment]
    instance_name = serializers.CharField(source="instance.name", read_only=True)
    octopus_url = serializers.CharField(read_only=True)

    class Meta:
        model = Space
        fields = [
            "id", "instance", "instance_name", "octopus_id", "name", "slug", "description",
            "is_default", "task_queue_stopped", "created_by_odcm", "state", "project_count",
            "target_count", "unhealthy_target_count", "environment_count", "tenant_count",
            "counts_updated_at", "octopus_url", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = fields

    def to_representation(self, instance: Space) -> dict[str, Any]:
        """The same body DRF's fields build (tests/spaces/test_api_speed.py compares them),
        written out: at 500 spaces a page, the generic per-field path was most of the time."""
        space, when = instance, _DATETIME.to_representation
        return {
            "id": str(space.pk),
            "instance": str(space.instance_id),
            "instance_name": space.instance.name,
            "octopus_id": space.octopus_id,
            "name": space.name,
            "slug": space.slug,
            "description": space.description,
            "is_default": space.is_default,
            "task_queue_stopped": space.task_queue_stopped,
            "created_by_odcm": space.created_by_odcm,
            "state": space.state,
            "project_count": space.project_count,
            "target_count": space.target_count,
            "unhealthy_target_count": space.unhealthy_target_count,
            "environment_count": space.environment_count,
            "tenant_count": space.tenant_count,
            "counts_updated_at": None
            if space.counts_updated_at is None
            else when(space.counts_updated_at),
            "octopus_url": space.octopus_url,
            "created_at": None if space.created_at is None else when(space.created_at),
            "updated_at": None if space.updated_at is None else when(space.updated_at),
        }

    # What ``row`` reads: a list renders from these values, not from model instances (at
    # 500 spaces a page, building the models and DRF's datetime field were most of the CPU).
    VALUES = (
        "id", "instance_id", "instance__name", "instance__base_url", "octopus_id", "name",
        "slug", "description", "is_default", "task_queue_stopped", "created_by_odcm", "state",
        "project_count", "target_count", "unhealthy_target_count", "environment_count",
        "tenant_count", "counts_updated_at", "created_at", "updated_at",
    )  # fmt: skip

    @staticmethod
    def row(v: dict[str, Any], tz: tzinfo) -> dict[str, Any]:
        """``to_representation``'s body from ``values(*VALUES)`` of a space; ``tz`` is the
        current time zone (as DRF's ``DateTimeField`` renders in)."""
        return {
            "id": str(v["id"]),
            "instance": str(v["instance_id"]),
            "instance_name": v["instance__name"],
            "octopus_id": v["octopus_id"],
            "name": v["name"],
            "slug": v["slug"],
            "description": v["description"],
            "is_default": v["is_default"],
            "task_queue_stopped": v["task_queue_stopped"],
            "created_by_odcm": v["created_by_odcm"],
            "state": v["state"],
            "project_count": v["project_count"],
            "target_count": v["target_count"],
            "unhealthy_target_count": v["unhealthy_target_count"],
            "environment_count": v["environment_count"],
            "tenant_count": v["tenant_count"],
            "counts_updated_at": _iso(v["counts_updated_at"], tz),
            "octopus_url": f"{v['instance__base_url'].rstrip('/')}/app#/{v['octopus_id']}",
            "created_at": _iso(v["created_at"], tz),
            "updated_at": _iso(v["updated_at"], tz),
        }

    def generic_representation(self, instance: Space) -> dict[str, Any]:
        """DRF's own rendering of the declared fields: what ``to_representation`` must equal."""
        return dict(super().to_representation(instance))


_DATETIME = serializers.DateTimeField()


def _iso(value: datetime | None, tz: tzinfo) -> str | None:
    """DRF's ISO 8601 rendering of an aware datetime in ``tz`` ("Z" for UTC)."""
    if value is None:
        return None
    text = value.astimezone(tz).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


class SpaceCreateSerializer(serializers.Serializer[Any]):
    instance = serializers.UUIDField()
    name = serializers.CharField(max_length=50)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    manager_user_ids = serializers.ListField(child=serializers.CharField(), required=False)
    manager_team_ids = serializers.ListField(child=serializers.CharField(), required=False)
    manager_groups = serializers.PrimaryKeyRelatedField(
        queryset=Group.objects.all(), many=True, required=False
    )
    stamp_environments = serializers.BooleanField(required=False, default=False)
    setup = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        help_text="A setup offered to you (e.g. 'blueprint:<id>'); replaces the standard "
        "environments.",
    )


class FavouriteSerializer(serializers.ModelSerializer[Favourite]):
    space = serializers.PrimaryKeyRelatedField(queryset=Space.objects.none())
    space_name = serializers.CharField(source="space.name", read_only=True)
    instance_name = serializers.CharField(source="space.instance.name", read_only=True)

    class Meta:
        model = Favourite
        fields = ["space", "space_name", "instance_name", "created_at"]
        read_only_fields = ["created_at"]


class SpaceDeleteSerializer(serializers.Serializer[Any]):
    confirm_name = serializers.CharField(
        max_length=200, help_text="The space's name, exactly: deleting in Octopus is final."
    )


class StandardEnvironmentsSerializer(serializers.Serializer[Any]):
    names = serializers.ListField(
        child=serializers.CharField(max_length=50),
        max_length=100,
        help_text="Environments stamped into new spaces, in order",
    )

    def validate_names(self, names: list[str]) -> list[str]:
        unique: list[str] = []
        for name in (n.strip() for n in names):
            if name and name.lower() not in {u.lower() for u in unique}:
                unique.append(name)
        return unique


MAX_BULK = 200


class EnlistManySerializer(serializers.Serializer[Any]):
    instances = EnlistSerializer(many=True, allow_empty=False)

    def validate_instances(self, rows: list[Any]) -> list[Any]:
        if len(rows) > MAX_BULK:
            raise serializers.ValidationError(f"At most {MAX_BULK} instances at a time.")
        return rows


class EnlistOutcomeSerializer(serializers.Serializer[Any]):
    name = serializers.CharField()
    enlisted = serializers.BooleanField()
    instance = InstanceSerializer(required=False)
    code = serializers.CharField(required=False)
    message = serializers.CharField(required=False)


class OctopusChoiceSerializer(serializers.Serializer[Any]):
    id = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]


class OctopusPeopleSerializer(serializers.Serializer[Any]):
    users = OctopusChoiceSerializer(many=True)
    teams = OctopusChoiceSerializer(many=True, help_text="System teams (not of one space)")
