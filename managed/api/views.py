"""/api/v1/managed/…: blueprints (revisions, assign, rules, plan, apply) and their targets."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from identity.access import is_admin
from managed import access
from managed.api import serializers as s
from managed.api.filters import BlueprintFilter, TargetFilter
from managed.models import Blueprint, BlueprintTarget
from managed.services import blueprints, broker
from odcm.api.permissions import IsAuthenticatedUser
from odcm.work import enqueue
from spaces.models import Space


class BlueprintViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet[Blueprint],
):
    """Space blueprints. Administrators and managers of the management space change them."""

    permission_classes = [IsAuthenticatedUser]
    http_method_names = ["get", "post", "patch", "head", "options"]
    filterset_class = BlueprintFilter

    def get_queryset(self) -> QuerySet[Blueprint]:
        rows = access.visible_blueprints(self.request.user)
        return rows.prefetch_related("instance_tags").order_by("name", "pk")

    def get_serializer_class(self) -> Any:
        if self.action == "partial_update":
            return s.BlueprintUpdateSerializer
        return s.BlueprintSerializer

    def _editable(self) -> Blueprint:
        blueprint = self.get_object()
        if not access.can_edit(self.request.user, blueprint):
            raise PermissionDenied("Only managers of the management space change this blueprint.")
        return blueprint

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = s.BlueprintSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        space = None
        if data.get("management_space_id"):
            space = Space.objects.filter(pk=data["management_space_id"]).first()
            if space is None or not access.can_assign(request.user, space):
                raise NotFound("No such space among those you manage.")
        elif not is_admin(request.user):
            raise PermissionDenied("Only administrators create blueprints without a space.")
        blueprint = blueprints.create_blueprint(
            data["name"],
            data["document"],
            description=data.get("description", ""),
            management_space=space,
            on_drift=data.get("on_drift", Blueprint.OnDrift.REPORT),
            actor=request.user,
        )
        return Response(s.BlueprintSerializer(blueprint).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        blueprint = self._editable()
        serializer = s.BlueprintUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        blueprints.update_settings(
            blueprint,
            description=data.get("description"),
            on_drift=data.get("on_drift"),
            actor=request.user,
        )
        if "document" in data:
            blueprints.save_revision(
                blueprint, data["document"], comment=data.get("comment", ""), actor=request.user
            )
        blueprint.refresh_from_db()
        return Response(s.BlueprintSerializer(blueprint).data)

    @extend_schema(responses=s.BlueprintRevisionSerializer(many=True))
    @action(detail=True, methods=["get"], filter_backends=[])
    def revisions(self, request: Request, pk: str | None = None) -> Response:
        """Every revision, newest first (content without secrets)."""
        blueprint = self.get_object()
        paginator: Any = self.paginator
        page = paginator.paginate_queryset(blueprint.revisions.all(), request, view=self)
        return paginator.get_paginated_response(s.BlueprintRevisionSerializer(page, many=True).data)

    @extend_schema(request=s.AssignSerializer, responses=s.QueuedSerializer)
    @action(detail=True, methods=["post"], filter_backends=[])
    def assign(self, request: Request, pk: str | None = None) -> Response:
        """Assign the blueprint to spaces you manage (nothing is applied yet)."""
        blueprint = self._editable()
        serializer = s.AssignSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        wanted = set(serializer.validated_data["spaces"])
        spaces = list(Space.objects.manageable_by(request.user).filter(pk__in=wanted))
        if len(spaces) != len(wanted):
            raise NotFound("Some spaces do not exist or you do not manage them.")
        made = blueprints.assign(blueprint, spaces, actor=request.user)
        return Response({"queued": len(made)})

    @extend_schema(request=s.RulesSerializer, responses=s.QueuedSerializer)
    @action(detail=True, methods=["post"], filter_backends=[])
    def rules(self, request: Request, pk: str | None = None) -> Response:
        """Assign by instance tag and region (administrators: it reaches many spaces)."""
        blueprint = self._editable()
        if not is_admin(request.user):
            raise PermissionDenied("Only administrators assign by tag or region.")
        serializer = s.RulesSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        made = blueprints.set_rules(
            blueprint,
            tags=serializer.validated_data.get("tags", []),
            regions=serializer.validated_data.get("regions", []),
            actor=request.user,
        )
        return Response({"queued": len(made)})

    @extend_schema(request=s.ApplySerializer, responses={202: s.QueuedSerializer})
    @action(detail=True, methods=["post"], filter_backends=[])
    def plan(self, request: Request, pk: str | None = None) -> Response:
        """Plan every target in the background; each target's plan appears on it."""
        blueprint = self._editable()
        serializer = s.ApplySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        prune = serializer.validated_data["prune"]
        enqueue("managed.tasks.plan_blueprint", str(blueprint.pk), prune)
        return Response({"queued": blueprint.targets.count()}, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=s.ApplySerializer, responses={202: s.QueuedSerializer})
    @action(detail=True, methods=["post"], filter_backends=[])
    def apply(self, request: Request, pk: str | None = None) -> Response:
        """Apply the latest revision to every target (or ``spaces``): one task per space."""
        blueprint = self._editable()
        serializer = s.ApplySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        ids = None
        if "spaces" in data:
            ids = list(
                blueprint.targets.filter(space__in=data["spaces"]).values_list("pk", flat=True)
            )
        queued = broker.queue_apply(
            blueprint, target_ids=ids, prune=data["prune"], actor=request.user
        )
        return Response({"queued": queued}, status=status.HTTP_202_ACCEPTED)


class TargetViewSet(viewsets.ReadOnlyModelViewSet[BlueprintTarget]):
    """Each space a blueprint is assigned to: plan, status, error, drift."""

    permission_classes = [IsAuthenticatedUser]
    serializer_class = s.TargetSerializer
    filterset_class = TargetFilter

    def get_queryset(self) -> QuerySet[BlueprintTarget]:
        rows = access.visible_targets(self.request.user).select_related("space")
        return rows.order_by("space__name", "pk")
