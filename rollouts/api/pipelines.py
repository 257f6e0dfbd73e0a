"""/api/v1/rollouts/pipelines/…: promotion pipelines, their board, promotions and the
Octopus Server version report. Administrators define pipelines; managers of a subject attach
it and promote its revisions; the board shows only subjects the caller may see."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from odcm.api.permissions import IsAuthenticatedUser
from rollouts import access, registry
from rollouts.models import Pipeline, PipelineStage, PipelineSubject, StagePromotion
from rollouts.services import pipelines


class StageSerializer(serializers.ModelSerializer[PipelineStage]):
    position = serializers.IntegerField(read_only=True)
    # Written as ids; read back by to_representation (a ListField cannot read a manager).
    spaces = serializers.ListField(child=serializers.UUIDField(), required=False, write_only=True)
    instances = serializers.ListField(
        child=serializers.UUIDField(), required=False, write_only=True
    )
    approval_group = serializers.CharField(
        source="approval_group.slug", required=False, allow_null=True, default=None
    )
    allowed_versions = serializers.ListField(
        child=serializers.CharField(max_length=50), required=False
    )

    class Meta:
        model = PipelineStage
        fields = [
            "position",
            "name",
            "selector",
            "spaces",
            "instances",
            "value",
            "soak_seconds",
            "approval_group",
            "allowed_versions",
        ]

    def to_representation(self, instance: PipelineStage) -> dict[str, Any]:
        data = super().to_representation(instance)
        data["spaces"] = [str(pk) for pk in instance.spaces.values_list("pk", flat=True)]
        data["instances"] = [str(pk) for pk in instance.instances.values_list("pk", flat=True)]
        return data


class PipelineSerializer(serializers.ModelSerializer[Pipeline]):
    stages = StageSerializer(many=True)

    class Meta:
        model = Pipeline
        fields = ["id", "name", "description", "stages", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]


class SubjectSerializer(serializers.Serializer[Any]):
    kind = serializers.CharField(max_length=50)
    subject_id = serializers.UUIDField()


class PipelinePromoteSerializer(SubjectSerializer):
    revision = serializers.IntegerField(min_value=1)
    stage = serializers.IntegerField(min_value=1, help_text="Position of the stage (2, 3, …).")


class StagePromotionSerializer(serializers.ModelSerializer[StagePromotion]):
    stage = serializers.CharField(source="stage.name")
    position = serializers.IntegerField(source="stage.position")

    class Meta:
        model = StagePromotion
        fields = ["stage", "position", "kind", "subject_id", "revision", "state", "reason"]


def _stages(data: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for stage in data:
        stage = dict(stage)
        slug = (stage.pop("approval_group", None) or {}).get("slug")
        stage["approval_group"] = pipelines.group_by_slug(slug)
        out.append(stage)
    return out


class PipelineViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[Pipeline]
):
    """Promotion pipelines: ordered stages a revision (and an Octopus Server version) goes
    through one after another."""

    permission_classes = [IsAuthenticatedUser]
    serializer_class = PipelineSerializer

    def get_queryset(self) -> QuerySet[Pipeline]:
        return Pipeline.objects.prefetch_related("stages__approval_group").order_by("name", "pk")

    def _admin(self) -> None:
        if not pipelines.may_define(self.request.user):
            raise PermissionDenied("Only administrators define pipelines.")

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        self._admin()
        body = PipelineSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        pipeline = pipelines.save_pipeline(
            data["name"],
            _stages(data["stages"]),
            description=data.get("description", ""),
            actor=request.user,
        )
        return Response(PipelineSerializer(pipeline).data, status=status.HTTP_201_CREATED)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        pipeline = self.get_object()
        self._admin()
        # Bound to the pipeline, so that keeping its own name is not "taken".
        body = PipelineSerializer(pipeline, data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        pipelines.save_pipeline(
            data["name"],
            _stages(data["stages"]),
            description=data.get("description", ""),
            pipeline=pipeline,
            actor=request.user,
        )
        pipeline.refresh_from_db()
        return Response(PipelineSerializer(pipeline).data)

    def _subject(self, request: Request) -> tuple[Pipeline, dict[str, Any]]:
        pipeline = self.get_object()
        body = (PipelinePromoteSerializer if self.action == "promote" else SubjectSerializer)(
            data=request.data
        )
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        if not access.subject_visible(request.user, data["kind"], data["subject_id"]):
            raise NotFound("No such subject.")
        return pipeline, data

    @extend_schema(request=SubjectSerializer, responses=SubjectSerializer)
    @action(detail=True, methods=["post"])
    def attach(self, request: Request, pk: Any = None) -> Response:
        """Send the subject's next revisions through this pipeline (managers of it)."""
        pipeline, data = self._subject(request)
        if not access.may_manage(request.user, data["kind"], data["subject_id"]):
            raise PermissionDenied("Only managers of the subject put it in a pipeline.")
        pipelines.attach(pipeline, data["kind"], data["subject_id"], actor=request.user)
        return Response(SubjectSerializer(data).data)

    @extend_schema(request=SubjectSerializer, responses=None)
    @action(detail=True, methods=["post"])
    def detach(self, request: Request, pk: Any = None) -> Response:
        """Take the subject out of this pipeline (managers of it); 404 when it is not in it."""
        pipeline, data = self._subject(request)
        if not access.may_manage(request.user, data["kind"], data["subject_id"]):
            raise PermissionDenied("Only managers of the subject take it out of a pipeline.")
        if not pipelines.detach(pipeline, data["kind"], data["subject_id"], actor=request.user):
            raise NotFound("The subject is not in this pipeline.")
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=PipelinePromoteSerializer, responses=StagePromotionSerializer)
    @action(detail=True, methods=["post"])
    def promote(self, request: Request, pk: Any = None) -> Response:
        """Deliver a revision to a stage: a 409 ``not_soaked`` until the stage before has
        soaked it cleanly; a 403 without the right (or the stage's approval)."""
        pipeline, data = self._subject(request)
        if not access.may_manage(request.user, data["kind"], data["subject_id"]):
            raise PermissionDenied("Only managers of the subject promote its revisions.")
        promotion = pipelines.promote(
            pipeline,
            data["kind"],
            data["subject_id"],
            data["revision"],
            data["stage"],
            actor=request.user,
        )
        return Response(StagePromotionSerializer(promotion).data, status=status.HTTP_201_CREATED)

    @action(detail=True, methods=["get"])
    def board(self, request: Request, pk: Any = None) -> Response:
        """Which revision each stage runs, per subject you may see."""
        pipeline = self.get_object()
        return Response({"subjects": _board(pipeline, request.user)})

    @action(detail=True, methods=["get"])
    def versions(self, request: Request, pk: Any = None) -> Response:
        """Octopus Server versions per stage, those seen out of order, and instances on a
        version their stage does not allow (administrators: it names every instance)."""
        pipeline = self.get_object()
        self._admin()
        return Response(pipelines.version_report(pipeline))


def _board(pipeline: Pipeline, user: Any) -> list[dict[str, Any]]:
    links = [
        link
        for link in PipelineSubject.objects.filter(pipeline=pipeline).order_by("created_at")
        if link.kind in registry.names()
        and access.subject_visible(user, link.kind, link.subject_id)
    ]
    return pipelines.board(pipeline, links)
