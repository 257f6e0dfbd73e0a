"""/api/v1/managed/baselines and /baseline-targets: instance baselines (administrators only;
to anyone else they do not exist)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from identity.access import is_admin
from managed.api import serializers as s
from managed.api.filters import BaselineFilter, BaselineTargetFilter
from managed.api.parents import ParentViewSet
from managed.models import BaselineTarget, InstanceBaseline
from managed.services import baseline_broker, baselines
from odcm.api.permissions import IsAuthenticatedUser
from odcm.work import enqueue
from spaces.models import Instance


@extend_schema_view(revisions=extend_schema(responses=s.BaselineRevisionSerializer(many=True)))
class BaselineViewSet(
    ParentViewSet,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet[InstanceBaseline],
):
    """Instance baselines: SMTP, sign-in providers, event subscriptions, maintenance and
    retention, the same on every instance they are assigned to. Secrets are never returned."""

    permission_classes = [IsAuthenticatedUser]
    filterset_class = BaselineFilter
    service = baselines
    detail_serializer = s.BaselineSerializer
    update_serializer = s.BaselineUpdateSerializer
    revision_serializer = s.BaselineRevisionSerializer

    def get_queryset(self) -> QuerySet[InstanceBaseline]:
        if not is_admin(self.request.user):
            return InstanceBaseline.objects.none()
        return InstanceBaseline.objects.prefetch_related("instance_tags").order_by("name", "pk")

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        if not is_admin(request.user):
            raise PermissionDenied("Only administrators create instance baselines.")
        serializer = s.BaselineSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        baseline = baselines.create_baseline(
            data["name"],
            data["document"],
            description=data.get("description", ""),
            on_drift=data.get("on_drift", InstanceBaseline.OnDrift.REPORT),
            actor=request.user,
        )
        return Response(s.BaselineSerializer(baseline).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.BaselineAssignSerializer, responses=s.QueuedSerializer)
    @action(detail=True, methods=["post"], filter_backends=[])
    def assign(self, request: Request, pk: str | None = None) -> Response:
        """Assign the baseline to instances (nothing is applied yet)."""
        baseline = self.get_object()
        serializer = s.BaselineAssignSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        wanted = set(serializer.validated_data["instances"])
        instances = list(Instance.objects.filter(pk__in=wanted))
        if len(instances) != len(wanted):
            raise NotFound("Some instances do not exist.")
        made = baselines.assign(baseline, instances, actor=request.user)
        return Response({"queued": len(made)})

    @extend_schema(request=s.BaselineRulesSerializer, responses=s.QueuedSerializer)
    @action(detail=True, methods=["post"], filter_backends=[])
    def rules(self, request: Request, pk: str | None = None) -> Response:
        """Assign to every instance, or by instance tag and region."""
        baseline = self.get_object()
        serializer = s.BaselineRulesSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        made = baselines.set_rules(
            baseline,
            all_instances=data["all_instances"],
            tags=data.get("tags", []),
            regions=data.get("regions", []),
            actor=request.user,
        )
        return Response({"queued": len(made)})

    @extend_schema(request=s.BaselineApplySerializer, responses={202: s.QueuedSerializer})
    @action(detail=True, methods=["post"], filter_backends=[])
    def plan(self, request: Request, pk: str | None = None) -> Response:
        """Plan every instance in the background (reads only; ``prune`` plans the deletions
        an apply and prune would make); each plan appears on its instance."""
        baseline = self.get_object()
        serializer = s.BaselineApplySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        enqueue("managed.tasks.plan_baseline", str(baseline.pk), serializer.validated_data["prune"])
        return Response({"queued": baseline.targets.count()}, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=s.BaselineApplySerializer, responses={202: s.QueuedSerializer})
    @action(detail=True, methods=["post"], filter_backends=[])
    def apply(self, request: Request, pk: str | None = None) -> Response:
        """Apply the latest revision to every instance (or ``instances``): one task each.
        ``prune`` also deletes subscriptions an earlier apply created and that are gone."""
        baseline = self.get_object()
        serializer = s.BaselineApplySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        ids = None
        if "instances" in serializer.validated_data:
            rows = baseline.targets.filter(instance__in=serializer.validated_data["instances"])
            ids = list(rows.values_list("pk", flat=True))
        queued = baseline_broker.queue_apply(
            baseline,
            target_ids=ids,
            prune=serializer.validated_data["prune"],
            actor=request.user,
        )
        return Response({"queued": queued}, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses={202: s.QueuedSerializer})
    @action(detail=True, methods=["post"], filter_backends=[])
    def check(self, request: Request, pk: str | None = None) -> Response:
        """Check every applied instance for drift in the background."""
        baseline = self.get_object()
        rows = baseline.targets.filter(
            status__in=[BaselineTarget.Status.APPLIED, BaselineTarget.Status.DRIFTED]
        )
        ids = [str(pk) for pk in rows.values_list("pk", flat=True)]
        for ident in ids:
            enqueue("managed.tasks.check_baseline_drift", ident)
        return Response({"queued": len(ids)}, status=status.HTTP_202_ACCEPTED)


class BaselineTargetViewSet(viewsets.ReadOnlyModelViewSet[BaselineTarget]):
    """Each instance a baseline is assigned to: plan, status, error, drift."""

    permission_classes = [IsAuthenticatedUser]
    serializer_class = s.BaselineTargetSerializer
    filterset_class = BaselineTargetFilter

    def get_queryset(self) -> QuerySet[BaselineTarget]:
        if not is_admin(self.request.user):
            return BaselineTarget.objects.none()
        return BaselineTarget.objects.select_related("instance").order_by("instance__name", "pk")
