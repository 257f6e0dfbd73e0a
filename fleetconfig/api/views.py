"""API: export, plans (made from a document, applied by id), the schema. Administrators."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from fleetconfig import render
from fleetconfig.api.filters import PlanFilter
from fleetconfig.models import Plan
from fleetconfig.schema import SCHEMA, SECTIONS
from fleetconfig.services import apply_plan, export_text, make_plan
from odcm.api.permissions import IsAdmin, IsAuthenticatedUser


class PlanRequestSerializer(serializers.Serializer[Any]):
    document = serializers.CharField(
        max_length=5 * 1024 * 1024,
        trim_whitespace=False,
        help_text="The fleet file (YAML or JSON text).",
    )
    prune = serializers.BooleanField(default=False)


class PlanSerializer(serializers.ModelSerializer[Plan]):
    counts = serializers.SerializerMethodField()
    problems = serializers.JSONField(source="issues", read_only=True)

    class Meta:
        model = Plan
        fields = [
            "id",
            "status",
            "source",
            "commit",
            "prune",
            "sections",
            "counts",
            "changes",
            "problems",
            "result",
            "created_at",
            "applied_at",
        ]
        read_only_fields = fields

    def get_counts(self, plan: Plan) -> dict[str, int]:
        return render.counts(plan)


class ExportView(APIView):
    """The current configuration as YAML (``only``: sections), byte-stable."""

    permission_classes = [IsAdmin]

    @extend_schema(
        parameters=[OpenApiParameter("only", OpenApiTypes.STR, many=True, enum=list(SECTIONS))],
        responses={(200, "application/yaml"): OpenApiTypes.STR},
    )
    def get(self, request: Request) -> HttpResponse:
        only = request.query_params.getlist("only")
        unknown = sorted(set(only) - set(SECTIONS))
        if unknown:
            raise serializers.ValidationError(
                {"only": [f"Unknown section {', '.join(unknown)}; use {', '.join(SECTIONS)}."]}
            )
        return HttpResponse(export_text(set(only) or None), content_type="application/yaml")


class SchemaView(APIView):
    """The JSON Schema of the fleet file, for validation and editor completion."""

    permission_classes = [IsAuthenticatedUser]

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request) -> Response:
        return Response(SCHEMA)


class PlanViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[Plan]):
    """Plans: POST a document to plan it (an invalid one is a 400 listing every error with its
    line); POST ``apply`` to apply exactly what a plan shows (409 if the state changed)."""

    permission_classes = [IsAdmin]
    serializer_class = PlanSerializer
    queryset = Plan.objects.order_by("-created_at", "pk")
    filterset_class = PlanFilter
    lookup_value_regex = "[0-9a-f-]{36}"

    @extend_schema(
        request=PlanRequestSerializer, responses={201: PlanSerializer, 400: PlanSerializer}
    )
    def create(self, request: Request) -> Response:
        body = PlanRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        plan = make_plan(
            body.validated_data["document"], actor=request.user, prune=body.validated_data["prune"]
        )
        code = status.HTTP_400_BAD_REQUEST if plan.status == Plan.Status.INVALID else 201
        return Response(PlanSerializer(plan).data, status=code)

    @extend_schema(
        request=None,
        responses={200: PlanSerializer, 409: OpenApiResponse(description="Stale or done")},
    )
    @action(detail=True, methods=["post"])
    def apply(self, request: Request, pk: str | None = None) -> Response:
        plan = apply_plan(self.get_object(), actor=request.user)  # stale or done: a 409
        return Response(PlanSerializer(plan).data)
