"""/api/v1/managed/…: blueprints (revisions, assign, rules, plan, apply) and their targets."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from identity.access import is_admin
from managed import access
from managed.api import serializers as s
from managed.api.filters import BlueprintFilter, TargetFilter
from managed.api.parents import ParentViewSet
from managed.models import Blueprint, BlueprintTarget, Downstream, TemplateProject
from managed.services import blueprints, broker, templates
from odcm.api.permissions import IsAuthenticatedUser
from odcm.work import enqueue
from spaces.models import Space


@extend_schema_view(revisions=extend_schema(responses=s.BlueprintRevisionSerializer(many=True)))
class BlueprintViewSet(
    ParentViewSet,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet[Blueprint],
):
    """Space blueprints. Administrators and managers of the management space change them."""

    permission_classes = [IsAuthenticatedUser]
    filterset_class = BlueprintFilter
    service = blueprints
    detail_serializer = s.BlueprintSerializer
    update_serializer = s.BlueprintUpdateSerializer
    revision_serializer = s.BlueprintRevisionSerializer

    def get_queryset(self) -> QuerySet[Blueprint]:
        rows = access.visible_blueprints(self.request.user)
        return rows.prefetch_related("instance_tags").order_by("name", "pk")

    def editable(self) -> Blueprint:
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

    @extend_schema(request=s.AssignSerializer, responses=s.QueuedSerializer)
    @action(detail=True, methods=["post"], filter_backends=[])
    def assign(self, request: Request, pk: str | None = None) -> Response:
        """Assign the blueprint to spaces you manage (nothing is applied yet)."""
        blueprint = self.editable()
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
        blueprint = self.editable()
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
        blueprint = self.editable()
        serializer = s.ApplySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        prune = serializer.validated_data["prune"]
        enqueue("managed.tasks.plan_blueprint", str(blueprint.pk), prune)
        return Response({"queued": blueprint.targets.count()}, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=s.ApplySerializer, responses={202: s.QueuedSerializer})
    @action(detail=True, methods=["post"], filter_backends=[])
    def apply(self, request: Request, pk: str | None = None) -> Response:
        """Apply the latest revision to every target (or ``spaces``): one task per space."""
        blueprint = self.editable()
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


class TemplateViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet[TemplateProject],
):
    """Template projects: mark, snapshot, revisions, diff, downstreams, push, conflicts."""

    permission_classes = [IsAuthenticatedUser]
    serializer_class = s.TemplateSerializer
    filter_backends: list[Any] = []

    def get_queryset(self) -> QuerySet[TemplateProject]:
        return access.visible_templates(self.request.user).order_by("name", "pk")

    def _editable(self) -> TemplateProject:
        template = self.get_object()
        if not access.can_edit_template(self.request.user, template):
            raise PermissionDenied("Only managers of the template's space change it.")
        return template

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Mark a project of a space you manage as a template (takes revision 1)."""
        serializer = s.TemplateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        space = Space.objects.manageable_by(request.user).filter(pk=data["space_id"]).first()
        if space is None:
            raise NotFound("No such space among those you manage.")
        template = templates.mark_template(space, data["project_name"], actor=request.user)
        return Response(s.TemplateSerializer(template).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=s.TemplateRevisionSerializer(many=True))
    @action(detail=True, methods=["get"])
    def revisions(self, request: Request, pk: str | None = None) -> Response:
        template = self.get_object()
        paginator: Any = self.paginator
        page = paginator.paginate_queryset(template.revisions.all(), request, view=self)
        return paginator.get_paginated_response(s.TemplateRevisionSerializer(page, many=True).data)

    @extend_schema(request=None, responses=s.TemplateRevisionSerializer)
    @action(detail=True, methods=["post"])
    def snapshot(self, request: Request, pk: str | None = None) -> Response:
        """Serialize the project now; a new revision if it changed (automatic pushes follow)."""
        template = self._editable()
        revision = templates.snapshot(template, actor=request.user)
        if revision is None:
            revision = template.revisions.get(number=template.latest_revision)
            return Response(s.TemplateRevisionSerializer(revision).data)
        return Response(s.TemplateRevisionSerializer(revision).data, status=201)

    @extend_schema(parameters=[s.DiffQuerySerializer])
    @action(detail=True, methods=["get"], pagination_class=None)
    def diff(self, request: Request, pk: str | None = None) -> Response:
        template = self.get_object()
        query = s.DiffQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        new = query.validated_data.get("to") or template.latest_revision
        old = query.validated_data.get("from_", max(new - 1, 0))
        return Response(templates.diff(template, old, new))

    @extend_schema(request=s.ValuesSerializer, responses=None)
    @action(detail=True, methods=["post"])
    def values(self, request: Request, pk: str | None = None) -> Response:
        """Sensitive values for every downstream (sealed; never returned)."""
        template = self._editable()
        serializer = s.ValuesSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        templates.set_secret_values(template, serializer.validated_data["values"], request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(methods=["GET"], responses=s.DownstreamSerializer(many=True))
    @extend_schema(
        methods=["POST"], request=s.DownstreamSerializer, responses=s.DownstreamSerializer
    )
    @action(detail=True, methods=["get", "post"])
    def downstreams(self, request: Request, pk: str | None = None) -> Response:
        """GET: each space the template is pushed to. POST: add one (a space you manage)."""
        if request.method == "GET":
            template = self.get_object()
            paginator: Any = self.paginator
            rows = template.downstreams.order_by("space__name", "pk")
            page = paginator.paginate_queryset(rows, request, view=self)
            return paginator.get_paginated_response(s.DownstreamSerializer(page, many=True).data)
        template = self._editable()
        serializer = s.DownstreamSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        space = Space.objects.manageable_by(request.user).filter(pk=data["space_id"]).first()
        if space is None:
            raise NotFound("No such space among those you manage.")
        overrides = data.get("overrides") or {}
        if not isinstance(overrides, dict):
            raise ValidationError({"overrides": ["An object of overrides."]})
        row = templates.add_downstream(
            template, space, overrides=overrides, mode=data.get("mode", "automatic"),
            actor=request.user,
        )  # fmt: skip
        return Response(s.DownstreamSerializer(row).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.PushSerializer, responses={202: s.QueuedSerializer})
    @action(detail=True, methods=["post"])
    def push(self, request: Request, pk: str | None = None) -> Response:
        """Push a revision (default the latest) to all or some downstreams."""
        template = self._editable()
        serializer = s.PushSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if data.get("revision") and data["revision"] > template.latest_revision:
            raise NotFound("No such revision.")
        queued = templates.queue_push(
            template, downstream_ids=data.get("downstreams"), revision=data.get("revision"),
            actor=request.user,
        )  # fmt: skip
        return Response({"queued": queued}, status=status.HTTP_202_ACCEPTED)


class DownstreamViewSet(viewsets.ReadOnlyModelViewSet[Downstream]):
    """Downstream projects of the templates one may see; conflicts resolved here."""

    permission_classes = [IsAuthenticatedUser]
    serializer_class = s.DownstreamSerializer
    filter_backends: list[Any] = []

    def get_queryset(self) -> QuerySet[Downstream]:
        templates_seen = access.visible_templates(self.request.user).values("pk")
        return Downstream.objects.filter(template__in=templates_seen).order_by("space__name", "pk")

    @extend_schema(request=s.ResolveSerializer, responses=s.DownstreamSerializer)
    @action(detail=True, methods=["post"])
    def resolve(self, request: Request, pk: str | None = None) -> Response:
        """Settle one conflict: take upstream or keep downstream (a space manager's call)."""
        row = self.get_object()
        if not access.can_assign(request.user, row.space):
            raise PermissionDenied("Only managers of this space resolve its conflicts.")
        serializer = s.ResolveSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        templates.resolve(
            row, serializer.validated_data["key"], serializer.validated_data["choice"],
            actor=request.user,
        )  # fmt: skip
        row.refresh_from_db()
        return Response(s.DownstreamSerializer(row).data)
