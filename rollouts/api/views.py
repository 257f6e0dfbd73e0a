"""/api/v1/rollouts/…: rollouts (start, pause, resume, approve, skip, abort, roll back) and
their policies. Rollouts of subjects the caller cannot see are a 404."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from identity.models import Group
from managed.access import visible_templates
from odcm.api.permissions import IsAuthenticatedUser
from rollouts import access
from rollouts.api import serializers as s
from rollouts.api.filters import RolloutFilter, RunFilter
from rollouts.models import DeploymentRun, Rollout, RolloutPolicy, RunDeployment
from rollouts.services import actions, orchestration, planning


class RolloutViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[Rollout]
):
    """Staged rollouts, newest first. Managers of the subject act on them; members of the
    approval group approve the next wave."""

    permission_classes = [IsAuthenticatedUser]
    filterset_class = RolloutFilter

    def get_queryset(self) -> QuerySet[Rollout]:
        rows = access.visible_rollouts(self.request.user).select_related("approval_group")
        if self.action == "retrieve":
            rows = rows.prefetch_related(
                "waves__approved_by", "waves__targets__space__instance", "waves__targets__instance"
            )
        return rows.order_by("-created_at", "pk")

    def get_serializer_class(self) -> Any:
        return s.RolloutDetailSerializer if self.action != "list" else s.RolloutSerializer

    def _managed(self) -> Rollout:
        rollout = self.get_object()
        if not access.may_manage(self.request.user, rollout.kind, rollout.subject_id):
            raise PermissionDenied("Only managers of what is rolled out change its rollout.")
        return rollout

    def _answer(self, rollout: Rollout) -> Response:
        rollout.refresh_from_db()
        return Response(s.RolloutDetailSerializer(rollout).data)

    @extend_schema(request=s.StartSerializer, responses=s.RolloutDetailSerializer)
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Start a rollout of a revision under the subject's policy (delivers wave 1)."""
        body = s.StartSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        kind, subject = body.validated_data["kind"], body.validated_data["subject_id"]
        if not access.subject_visible(request.user, kind, subject):
            raise NotFound("No such subject.")
        if not access.may_manage(request.user, kind, subject):
            raise PermissionDenied("Only managers of what is rolled out start its rollout.")
        rollout = actions.start(kind, subject, body.validated_data["revision"], actor=request.user)
        data = s.RolloutDetailSerializer(rollout).data
        return Response(data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=s.RolloutDetailSerializer)
    @action(detail=True, methods=["post"])
    def pause(self, request: Request, pk: str | None = None) -> Response:
        rollout = self._managed()
        actions.pause(rollout, actor=request.user)
        return self._answer(rollout)

    @extend_schema(request=None, responses=s.RolloutDetailSerializer)
    @action(detail=True, methods=["post"])
    def resume(self, request: Request, pk: str | None = None) -> Response:
        """Resume a paused or halted rollout (failed targets of the halted wave go again)."""
        rollout = self._managed()
        actions.resume(rollout, actor=request.user)
        return self._answer(rollout)

    @extend_schema(request=None, responses=s.RolloutDetailSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: str | None = None) -> Response:
        """Approve the next wave (members of the policy's approval group)."""
        rollout = self.get_object()
        if not actions.may_approve(request.user, rollout):
            raise PermissionDenied("Only members of the approval group approve this rollout.")
        actions.approve(rollout, actor=request.user)
        return self._answer(rollout)

    @extend_schema(request=s.SkipSerializer, responses=s.RolloutDetailSerializer)
    @action(detail=True, methods=["post"])
    def skip(self, request: Request, pk: str | None = None) -> Response:
        """Leave one target out of the rollout."""
        rollout = self._managed()
        body = s.SkipSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        actions.skip_target(rollout, body.validated_data["target"], actor=request.user)
        return self._answer(rollout)

    @extend_schema(request=None, responses=s.RolloutDetailSerializer)
    @action(detail=True, methods=["post"])
    def abort(self, request: Request, pk: str | None = None) -> Response:
        rollout = self._managed()
        actions.abort(rollout, actor=request.user)
        return self._answer(rollout)

    @extend_schema(request=None, responses=s.RolloutDetailSerializer)
    @action(detail=True, methods=["post"])
    def rollback(self, request: Request, pk: str | None = None) -> Response:
        """Deliver each started target's previous revision again."""
        rollout = self._managed()
        actions.roll_back(rollout, actor=request.user)
        return self._answer(rollout)


class PolicyViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet[RolloutPolicy],
):
    """Rollout policies; POST creates or replaces the policy of a subject."""

    permission_classes = [IsAuthenticatedUser]
    serializer_class = s.PolicySerializer
    http_method_names = ["get", "post", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[RolloutPolicy]:
        rows = access.visible_policies(self.request.user).select_related("approval_group")
        return rows.prefetch_related("waves__spaces").order_by("created_at", "pk")

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = s.PolicySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        kind, subject = data["kind"], data["subject_id"]
        if not access.subject_visible(request.user, kind, subject):
            raise NotFound("No such subject.")
        if not access.may_manage(request.user, kind, subject):
            raise PermissionDenied("Only managers of what is rolled out set its policy.")
        slug = (data.get("approval_group") or {}).get("slug")
        group = Group.objects.filter(slug=slug).first() if slug else None
        if slug and group is None:
            raise actions.RolloutError(
                "No such group.", errors={"approval_group": ["No such group."]}
            )
        waves = [dict(w) for w in data["waves"]]
        policy = actions.save_policy(
            kind,
            subject,
            waves,
            max_failures=data.get("max_failures", 0),
            max_failure_ratio=data.get("max_failure_ratio", 0.0),
            soak_seconds=data.get("soak_seconds", 300),
            approval_group=group,
            enabled=data.get("enabled", True),
            actor=request.user,
        )
        return Response(s.PolicySerializer(policy).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance: RolloutPolicy) -> None:
        if not access.may_manage(self.request.user, instance.kind, instance.subject_id):
            raise PermissionDenied("Only managers of what is rolled out remove its policy.")
        actions.delete_policy(instance, actor=self.request.user)


class RunViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[DeploymentRun]
):
    """Deployments orchestrated across spaces and instances; finished runs are kept."""

    permission_classes = [IsAuthenticatedUser]
    filterset_class = RunFilter

    def get_queryset(self) -> QuerySet[DeploymentRun]:
        rows = access.visible_runs(self.request.user)
        if self.action == "retrieve":
            rows = rows.prefetch_related("deployments__space__instance", "deployments__wave")
        return rows.order_by("-created_at", "pk")

    def get_serializer_class(self) -> Any:
        return s.RunSerializer if self.action == "list" else s.RunDetailSerializer

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        runs = list(page or [])
        counts: dict[Any, dict[str, int]] = {run.pk: {} for run in runs}
        rows = (
            RunDeployment.objects.filter(run__in=runs)
            .values_list("run_id", "state")
            .annotate(n=Count("pk"))
        )
        for run_id, state, n in rows:
            counts[run_id][state] = n
        for run in runs:
            run.state_counts = counts[run.pk]  # type: ignore[attr-defined]
        return self.get_paginated_response(s.RunSerializer(runs, many=True).data)

    @extend_schema(request=s.RunStartSerializer, responses=s.RunDetailSerializer)
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Start deployments of a project's release to the given spaces, wave by wave
        (a Deployer grant on every space)."""
        body = s.RunStartSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        project, copies, template_id = data.get("project", ""), None, None
        if data.get("template"):
            template = visible_templates(request.user).filter(pk=data["template"]).first()
            if template is None:
                raise NotFound("No such template project.")
            ids = [str(pk) for wave in data["waves"] for pk in wave]
            copies = planning.template_copies(template, ids)
            without = [pk for pk in ids if pk not in copies]
            if without:
                raise ValidationError(
                    {"waves": f"{len(without)} of these spaces hold no copy of {template.name}."}
                )
            project, template_id = template.name, template.pk
        run = orchestration.start_run(
            user=request.user,
            project=project,
            projects=copies,
            template_id=template_id,
            new_copies=data.get("new_copies", True),
            release=data.get("release", ""),
            channel=data.get("channel", ""),
            environment=data["environment"],
            tenants=data.get("tenants", []),
            waves=data["waves"],
            max_failures=data["max_failures"],
            max_failure_ratio=data["max_failure_ratio"],
        )
        return Response(s.RunDetailSerializer(run).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=s.RunDetailSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        """Start nothing more and cancel the tasks Octopus is running or holding."""
        run = self.get_object()
        if not access.may_cancel_run(request.user, run):
            raise PermissionDenied("Only who started it, or may deploy to all of it, cancels.")
        orchestration.cancel_run(run, actor=request.user)
        run.refresh_from_db()
        return Response(s.RunDetailSerializer(run).data)

    @extend_schema(request=s.InterventionSerializer, responses=s.RunDetailSerializer)
    @action(detail=True, methods=["post"])
    def intervention(self, request: Request, pk: str | None = None) -> Response:
        """Take and answer a manual intervention (a Deployer grant on that space)."""
        run = self.get_object()
        body = s.InterventionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        row = (
            run.deployments.select_related("space__instance", "run")
            .filter(pk=body.validated_data["deployment"])
            .first()
        )
        if row is None:
            raise NotFound("No such deployment in this run.")
        if row.pk not in orchestration.may_answer(request.user, [row]):
            raise PermissionDenied(
                "Answering it needs a Deployer grant on this space covering this project, "
                "environment and tenant."
            )
        orchestration.submit_intervention(
            row,
            actor=request.user,
            proceed=body.validated_data["proceed"],
            notes=body.validated_data.get("notes", ""),
        )
        run.refresh_from_db()
        return Response(s.RunDetailSerializer(run).data)
