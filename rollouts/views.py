"""Rollout pages: the panel on the subject's page, the rollout page (refreshing with htmx)
and the buttons (pause, resume, approve, skip, abort, roll back)."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from managed.gates import BASELINE, BLUEPRINT, TEMPLATE_PROJECT
from managed.models import Blueprint, InstanceBaseline, TemplateProject
from octopus.errors import OctopusError
from odcm.errors import ServiceError
from rollouts import access, registry
from rollouts.models import DeploymentRun, Rollout, RolloutPolicy
from rollouts.services import actions, orchestration
from spaces.signals import Panel


def _rollout(request: HttpRequest, pk: Any) -> Rollout:
    rollout = access.visible_rollouts(request.user).filter(pk=pk).first()
    if rollout is None:
        raise Http404
    return rollout


def _context(request: HttpRequest, rollout: Rollout) -> dict[str, Any]:
    kind = registry.kind(rollout.kind)
    waves = list(
        rollout.waves.order_by("position")
        .select_related("approved_by")
        .prefetch_related("targets__space__instance", "targets__instance")
    )
    return {
        "rollout": rollout,
        "waves": waves,
        "label": kind.label(rollout.subject_id),
        "subject_url": kind.url(rollout.subject_id),
        "can_manage": access.may_manage(request.user, rollout.kind, rollout.subject_id),
        "can_approve": actions.may_approve(request.user, rollout),
        "active": rollout.state in Rollout.ACTIVE or rollout.state == Rollout.State.ROLLING_BACK,
    }


@login_required
def detail(request: HttpRequest, pk: Any) -> HttpResponse:
    rollout = _rollout(request, pk)
    context = _context(request, rollout)
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "rollouts/_progress.html", context)
    return render(request, "rollouts/detail.html", context)


VERBS = {
    "pause": actions.pause,
    "resume": actions.resume,
    "abort": actions.abort,
    "rollback": actions.roll_back,
}


@login_required
@require_POST
def act(request: HttpRequest, pk: Any, verb: str) -> HttpResponse:
    rollout = _rollout(request, pk)
    try:
        if verb == "approve":
            actions.approve(rollout, actor=request.user)
        elif verb == "skip":
            if not access.may_manage(request.user, rollout.kind, rollout.subject_id):
                raise Http404
            actions.skip_target(
                rollout, uuid.UUID(request.POST.get("target", "")), actor=request.user
            )
        elif verb in VERBS:
            if not access.may_manage(request.user, rollout.kind, rollout.subject_id):
                raise Http404
            VERBS[verb](rollout, actor=request.user)
        else:
            raise Http404
    except (ServiceError, ValueError) as exc:
        messages.error(request, str(exc) if isinstance(exc, ServiceError) else "Not a target.")
    else:
        messages.success(request, f"Rollout: {verb} done.")
    return redirect("rollouts:detail", rollout.pk)


def subject_panels(request: HttpRequest, kind: str, subject_id: Any) -> list[Panel]:
    """The rollout panel on a subject's page: its policy and its latest rollouts."""
    if kind not in registry.names():
        return []
    rollouts = list(Rollout.objects.filter(kind=kind, subject_id=subject_id)[:5])
    policy = RolloutPolicy.objects.filter(kind=kind, subject_id=subject_id).first()
    can_manage = access.may_manage(request.user, kind, subject_id)
    if not rollouts and policy is None and not can_manage:
        return []
    latest = rollouts[0] if rollouts else None
    context = {
        "policy": policy,
        "policy_waves": list(policy.waves.order_by("position")) if policy else [],
        "latest": latest,
        "waves": list(latest.waves.order_by("position")) if latest else [],
        "older": rollouts[1:],
        "can_manage": can_manage,
        "kind": kind,
        "subject_id": subject_id,
    }
    return [Panel("top", "rollouts/_panel.html", context, order=10)]


def item_panels(sender: Any, request: HttpRequest, item: Any, **kwargs: Any) -> list[Panel]:
    """sharing's item page asks (``sharing.signals.item_page``)."""
    return subject_panels(request, "shared_item", item.pk)


def managed_panels(sender: Any, request: HttpRequest, obj: Any, **kwargs: Any) -> list[Panel]:
    """A blueprint's, template project's or baseline's page asks (``managed.signals.page``)."""
    kinds = {Blueprint: BLUEPRINT, TemplateProject: TEMPLATE_PROJECT, InstanceBaseline: BASELINE}
    kind = kinds.get(sender)
    return subject_panels(request, kind, obj.pk) if kind else []


def _run(request: HttpRequest, pk: Any) -> DeploymentRun:
    run = access.visible_runs(request.user).filter(pk=pk).first()
    if run is None:
        raise Http404
    return run


@login_required
def run_detail(request: HttpRequest, pk: Any) -> HttpResponse:
    """A deployment run; its table refreshes itself (htmx) while the run goes on."""
    run = _run(request, pk)
    rows = list(run.deployments.select_related("space__instance", "wave", "run"))
    answerable = orchestration.may_answer(request.user, rows)
    now = timezone.now()
    for row in rows:
        row.link = orchestration.task_link(row)  # type: ignore[attr-defined]
        end = row.finished_at or now
        row.duration = (end - row.started_at).total_seconds() if row.started_at else None  # type: ignore[attr-defined]
        row.may_answer = row.pk in answerable and bool(row.interruption_id)  # type: ignore[attr-defined]
    context = {
        "run": run,
        "rows": rows,
        "live": run.finished_at is None,
        "can_cancel": run.state == DeploymentRun.State.RUNNING
        and access.may_cancel_run(request.user, run),
    }
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "rollouts/_run_table.html", context)
    return render(request, "rollouts/run.html", context)


@login_required
@require_POST
def run_act(request: HttpRequest, pk: Any, verb: str) -> HttpResponse:
    run = _run(request, pk)
    try:
        if verb == "cancel":
            if not access.may_cancel_run(request.user, run):
                raise Http404
            orchestration.cancel_run(run, actor=request.user)
            messages.success(request, "Cancelling the run.")
        elif verb in ("proceed", "abort"):
            row = (
                run.deployments.select_related("space__instance", "run")
                .filter(pk=uuid.UUID(request.POST.get("deployment", "")))
                .first()
            )
            if row is None:
                raise Http404
            orchestration.submit_intervention(
                row,
                actor=request.user,
                proceed=verb == "proceed",
                notes=request.POST.get("notes", ""),
            )
            messages.success(request, "Answered the manual intervention.")
        else:
            raise Http404
    except ValueError as exc:
        messages.error(request, str(exc) if isinstance(exc, ServiceError) else "Not a deployment.")
    except OctopusError as exc:
        messages.error(request, f"Octopus refused: {exc}")
    return redirect("rollouts:run", run.pk)
