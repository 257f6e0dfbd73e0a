"""DRF serializers of promotions. No private key, token secret or sensitive value is ever
a field: identities show the certificate only, bundles their metadata."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ..models import InboundBundle, Promotion, RemoteSpace, Route, SpaceIdentity, Trust


class SpaceIdentitySerializer(serializers.ModelSerializer[SpaceIdentity]):
    space = serializers.UUIDField(source="space_id", read_only=True)

    class Meta:
        model = SpaceIdentity
        fields = [
            "id",
            "space",
            "state",
            "origin",
            "fingerprint",
            "certificate_pem",
            "not_after",
            "created_at",
        ]


class IdentityGenerateSerializer(serializers.Serializer[Any]):
    space = serializers.UUIDField()


class RemoteSpaceSerializer(serializers.ModelSerializer[RemoteSpace]):
    local_space = serializers.UUIDField(source="local_space_id", read_only=True)
    fingerprints = serializers.SerializerMethodField()

    class Meta:
        model = RemoteSpace
        fields = ["id", "name", "url", "remote_id", "local_space", "fingerprints", "created_at"]

    def get_fingerprints(self, obj: RemoteSpace) -> list[str]:
        return [c.fingerprint for c in obj.certificates.all() if c.revoked_at is None]


class RemoteSpaceCreateSerializer(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=200)
    certificate = serializers.CharField()
    url = serializers.URLField(required=False, allow_blank=True, default="")
    remote_id = serializers.CharField(required=False, allow_blank=True, default="")


class PromotionTrustSerializer(serializers.ModelSerializer[Trust]):
    space = serializers.UUIDField(source="space_id")
    remote = serializers.UUIDField(source="remote_id")

    class Meta:
        model = Trust
        fields = [
            "id",
            "space",
            "remote",
            "accepts",
            "state",
            "confirmed_fingerprint",
            "confirmed_at",
            "created_at",
        ]
        read_only_fields = ["state", "confirmed_fingerprint", "confirmed_at", "created_at"]


class TrustConfirmSerializer(serializers.Serializer[Any]):
    fingerprint = serializers.CharField(max_length=200)


class InboundBundleSerializer(serializers.ModelSerializer[InboundBundle]):
    space = serializers.UUIDField(source="space_id", read_only=True)
    source_name = serializers.CharField(source="source.name", read_only=True)

    class Meta:
        model = InboundBundle
        fields = [
            "id",
            "space",
            "source_name",
            "source_fingerprint",
            "project_name",
            "release_version",
            "schema",
            "state",
            "imported_project_id",
            "imported_release_id",
            "last_error",
            "received_at",
            "imported_at",
            "edits",
            "edits_checked_at",
        ]


class SuppliedValueSerializer(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=200)
    environment = serializers.CharField(max_length=200, allow_blank=True)
    tenant = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        default="",
        help_text="A tenant of this space (id or name): the value is written into its tenant "
        "variables in Octopus for the template ``name`` (never kept by ODCM).",
    )
    value = serializers.CharField(write_only=True, trim_whitespace=False)
    sensitive = serializers.BooleanField(default=True)


class BundleImportSerializer(serializers.Serializer[Any]):
    lifecycle = serializers.CharField(required=False, allow_blank=True, default="")
    background = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Queue the import for a worker (202) instead of importing in the request.",
    )


class PromotionSerializer(serializers.ModelSerializer[Promotion]):
    space = serializers.UUIDField(source="space_id", read_only=True)
    target = serializers.CharField(source="target.name", read_only=True)

    class Meta:
        model = Promotion
        fields = [
            "id",
            "space",
            "target",
            "project_id",
            "project_name",
            "release_id",
            "release_version",
            "state",
            "attempts",
            "last_error",
            "created_at",
        ]


class PromoteSerializer(serializers.Serializer[Any]):
    route = serializers.UUIDField()
    release = serializers.CharField(max_length=64)
    target = serializers.UUIDField()


class RouteStageSerializer(serializers.Serializer[Any]):
    """One stage: exactly one of ``environment`` (of the source space) and ``target`` (a
    remote space's id); ``lifecycle``: for a target, the lifecycle's name there."""

    position = serializers.IntegerField(min_value=1, max_value=99)
    kind = serializers.CharField(read_only=True)
    environment = serializers.CharField(
        max_length=200, required=False, allow_blank=True, default=""
    )
    target = serializers.UUIDField(source="target_id", required=False, allow_null=True)
    target_name = serializers.CharField(source="target.name", read_only=True, default="")
    lifecycle = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class PromotionRouteSerializer(serializers.ModelSerializer[Route]):
    space = serializers.UUIDField(source="space_id", read_only=True)
    stages = serializers.SerializerMethodField()
    stage_details = serializers.SerializerMethodField()

    class Meta:
        model = Route
        fields = ["id", "space", "project_id", "project_name", "stages", "stage_details"]

    def get_stages(self, obj: Route) -> list[str]:
        return [str(s) for s in obj.stages.all()]

    @extend_schema_field(RouteStageSerializer(many=True))
    def get_stage_details(self, obj: Route) -> list[dict[str, Any]]:
        return [
            {**RouteStageSerializer(st).data, "position": n}
            for n, st in enumerate(obj.stages.all(), 1)
        ]


class RouteWriteSerializer(serializers.Serializer[Any]):
    """Create (``space`` and ``project_id`` required) or replace a route's stages."""

    space = serializers.UUIDField(required=False)
    project_id = serializers.CharField(max_length=64, required=False)
    stages = RouteStageSerializer(many=True)


class RemoteValueSerializer(serializers.Serializer[Any]):
    """A value held for a remote environment. ``value`` is never returned for a sensitive
    one (null); when setting a sensitive value, omitting ``value`` keeps the one held."""

    id = serializers.IntegerField(read_only=True)
    target = serializers.UUIDField(source="environment.remote_id")
    target_name = serializers.CharField(source="environment.remote.name", read_only=True)
    environment = serializers.CharField(source="environment.name", max_length=200)
    name = serializers.CharField(max_length=200)
    sensitive = serializers.BooleanField(default=False)
    value = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)

    def to_representation(self, instance: Any) -> dict[str, Any]:
        data = super().to_representation(instance)
        if instance.sensitive:
            data["value"] = None
        return dict(data)
