"""Serializers of /api/v1/rollouts/…"""

from __future__ import annotations

from typing import Any

from django.db.models import Count
from django.utils import timezone
from rest_framework import serializers

from rollouts import registry
from rollouts.models import (
    DeploymentRun,
    PolicyWave,
    Rollout,
    RolloutPolicy,
    RolloutTarget,
    RolloutWave,
    RunDeployment,
)
from rollouts.services.orchestration import task_link


class TargetSerializer(serializers.ModelSerializer[RolloutTarget]):
    space = serializers.UUIDField(source="space_id", read_only=True)
    space_name = serializers.CharField(source="space.name", read_only=True)
    instance_name = serializers.CharField(source="space.instance.name", read_only=True)
    # The instance, when the target is a whole one (an instance baseline): ``space`` only stands
    # for it then.
    whole_instance = serializers.UUIDField(source="instance_id", read_only=True, allow_null=True)

    class Meta:
        model = RolloutTarget
        fields = [
            "key",
            "space",
            "space_name",
            "whole_instance",
            "instance_name",
            "state",
            "previous_revision",
            "message",
        ]


class WaveSerializer(serializers.ModelSerializer[RolloutWave]):
    targets = TargetSerializer(many=True, read_only=True)
    approved_by = serializers.CharField(source="approved_by.username", default=None)

    class Meta:
        model = RolloutWave
        fields = [
            "position",
            "name",
            "state",
            "started_at",
            "soak_until",
            "finished_at",
            "approved_by",
            "approved_at",
            "targets",
        ]


class RolloutSerializer(serializers.ModelSerializer[Rollout]):
    approval_group = serializers.CharField(source="approval_group.name", default=None)

    class Meta:
        model = Rollout
        fields = [
            "id",
            "kind",
            "subject_id",
            "revision",
            "previous_revision",
            "state",
            "reason",
            "max_failures",
            "max_failure_ratio",
            "soak_seconds",
            "approval_group",
            "created_at",
            "updated_at",
            "finished_at",
        ]


class RolloutDetailSerializer(RolloutSerializer):
    waves = WaveSerializer(many=True, read_only=True)

    class Meta(RolloutSerializer.Meta):
        fields = [*RolloutSerializer.Meta.fields, "waves"]


def _registered_kind(value: str) -> str:
    # A plain string, not a ChoiceField: the kinds are registered at start-up by other apps,
    # and a fixed enum in the schema would collide with (and lie beside) theirs.
    if value not in registry.names():
        raise serializers.ValidationError(
            f"Not a kind rollouts know: choose one of {', '.join(registry.names())}."
        )
    return value


class StartSerializer(serializers.Serializer[Any]):
    kind = serializers.CharField(max_length=40, help_text="A registered kind (shared_item, …)")
    subject_id = serializers.UUIDField()
    revision = serializers.IntegerField(min_value=1)

    def validate_kind(self, value: str) -> str:
        return _registered_kind(value)


class SkipSerializer(serializers.Serializer[Any]):
    target = serializers.UUIDField(help_text="The target's key (a subscription id)")


class PolicyWaveSerializer(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    selector = serializers.ChoiceField(choices=PolicyWave.Selector.choices)
    spaces = serializers.ListField(child=serializers.UUIDField(), required=False)
    value = serializers.CharField(max_length=100, required=False, allow_blank=True)
    percent = serializers.IntegerField(min_value=1, max_value=100, required=False)


class PolicySerializer(serializers.ModelSerializer[RolloutPolicy]):
    kind = serializers.CharField(max_length=40, help_text="A registered kind (shared_item, …)")
    waves = PolicyWaveSerializer(many=True)
    approval_group = serializers.SlugField(
        source="approval_group.slug", required=False, allow_null=True, default=None
    )

    class Meta:
        model = RolloutPolicy
        fields = [
            "id",
            "kind",
            "subject_id",
            "waves",
            "max_failures",
            "max_failure_ratio",
            "soak_seconds",
            "approval_group",
            "enabled",
        ]
        read_only_fields = ["id"]
        validators: list[Any] = []  # the service upserts by (kind, subject_id)

    def validate_kind(self, value: str) -> str:
        return _registered_kind(value)

    def to_representation(self, instance: RolloutPolicy) -> dict[str, Any]:
        data = {
            "id": str(instance.pk),
            "kind": instance.kind,
            "subject_id": str(instance.subject_id),
            "max_failures": instance.max_failures,
            "max_failure_ratio": instance.max_failure_ratio,
            "soak_seconds": instance.soak_seconds,
            "approval_group": instance.approval_group.slug if instance.approval_group else None,
            "enabled": instance.enabled,
        }
        data["waves"] = [
            {
                "name": w.name,
                "selector": w.selector,
                "spaces": [str(s.pk) for s in w.spaces.all()],
                "value": w.value,
                "percent": w.percent,
            }
            for w in instance.waves.order_by("position")
        ]
        return data


class RunDeploymentSerializer(serializers.ModelSerializer[RunDeployment]):
    space = serializers.UUIDField(source="space_id", read_only=True)
    space_name = serializers.CharField(source="space.name", read_only=True)
    instance_name = serializers.CharField(source="space.instance.name", read_only=True)
    wave = serializers.IntegerField(source="wave.position", read_only=True)
    project_name = serializers.CharField(read_only=True)
    duration_seconds = serializers.SerializerMethodField()
    link = serializers.SerializerMethodField()

    class Meta:
        model = RunDeployment
        fields = [
            "id",
            "wave",
            "space",
            "space_name",
            "instance_name",
            "tenant",
            "project_name",
            "state",
            "release",
            "deployment_id",
            "task_id",
            "task_state",
            "message",
            "interruption_id",
            "interruption_title",
            "started_at",
            "finished_at",
            "duration_seconds",
            "link",
        ]

    def get_duration_seconds(self, row: RunDeployment) -> float | None:
        if row.started_at is None:
            return None
        end = row.finished_at or timezone.now()
        return round((end - row.started_at).total_seconds(), 1)

    def get_link(self, row: RunDeployment) -> str:
        return task_link(row)


class RunSerializer(serializers.ModelSerializer[DeploymentRun]):
    counts = serializers.SerializerMethodField()

    class Meta:
        model = DeploymentRun
        fields = [
            "id",
            "project",
            "release",
            "channel",
            "environment",
            "tenants",
            "template_id",
            "new_copies",
            "max_failures",
            "max_failure_ratio",
            "state",
            "reason",
            "created_at",
            "finished_at",
            "counts",
        ]

    def get_counts(self, run: DeploymentRun) -> dict[str, int]:
        counts = getattr(run, "state_counts", None)
        if counts is None:
            counts = dict(
                run.deployments.values_list("state")
                .annotate(n=Count("pk"))
                .values_list("state", "n")
            )
        return {str(k): int(v) for k, v in counts.items()}


class RunDetailSerializer(RunSerializer):
    deployments = RunDeploymentSerializer(many=True, read_only=True)

    class Meta(RunSerializer.Meta):
        fields = [*RunSerializer.Meta.fields, "deployments"]


class RunStartSerializer(serializers.Serializer[Any]):
    project = serializers.CharField(max_length=200, required=False, allow_blank=True)
    template = serializers.UUIDField(
        required=False,
        allow_null=True,
        help_text="Instead of project: deploy the downstream copies of this template project "
        "(each under its name in its space); every space of the waves must hold a copy",
    )
    new_copies = serializers.BooleanField(
        required=False,
        default=True,
        help_text="With a template: copies pushed after the start join the last wave when it "
        "starts (the waves given here are lists of spaces)",
    )
    release = serializers.CharField(
        max_length=100, required=False, allow_blank=True, help_text="A version; blank: latest"
    )
    channel = serializers.CharField(max_length=200, required=False, allow_blank=True)
    environment = serializers.CharField(max_length=200)
    tenants = serializers.ListField(
        child=serializers.CharField(max_length=200), required=False, max_length=100
    )
    waves = serializers.ListField(
        child=serializers.ListField(child=serializers.UUIDField(), min_length=1, max_length=1000),
        min_length=1,
        max_length=50,
    )
    max_failures = serializers.IntegerField(min_value=0, required=False, default=0)
    max_failure_ratio = serializers.FloatField(
        min_value=0,
        max_value=1,
        required=False,
        default=0.0,
        help_text="Also stop when more than this fraction of the deployments started failed",
    )

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        project = (data.get("project") or "").strip()
        if project and data.get("template"):
            raise serializers.ValidationError({"template": "Give a project or a template."})
        if not project and not data.get("template"):
            raise serializers.ValidationError({"project": "Name the project or a template."})
        return data


class InterventionSerializer(serializers.Serializer[Any]):
    deployment = serializers.UUIDField()
    proceed = serializers.BooleanField()
    notes = serializers.CharField(max_length=1000, required=False, allow_blank=True)
