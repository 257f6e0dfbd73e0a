"""Rollout pages: the panel on the subject's page, the rollout page (refreshing with htmx)
and the buttons (pause, resume, approve, skip, abort, roll back)."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from odcm.errors import ServiceError
from rollouts import access, registry
from rollouts.models import Rollout, RolloutPolicy
from rollouts.services import actions
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
        .prefetch_related("targets__space__instance")
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
    if not rollouts and policy is None:
        return []
    latest = rollouts[0] if rollouts else None
    context = {
        "policy": policy,
        "policy_waves": list(policy.waves.order_by("position")) if policy else [],
        "latest": latest,
        "waves": list(latest.waves.order_by("position")) if latest else [],
        "older": rollouts[1:],
    }
    return [Panel("top", "rollouts/_panel.html", context, order=10)]


def item_panels(sender: Any, request: HttpRequest, item: Any, **kwargs: Any) -> list[Panel]:
    """sharing's item page asks (``sharing.signals.item_page``)."""
    return subject_panels(request, "shared_item", item.pk)
