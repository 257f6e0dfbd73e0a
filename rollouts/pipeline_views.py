"""Pipeline pages: the list of pipelines and each pipeline's board (which revision each stage
runs, refreshing with htmx; a Promote button where the next stage may take a revision, a
Detach button for managers of a subject) and, for administrators, the Octopus Server version
report."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from odcm.errors import ServiceError
from rollouts import access, registry
from rollouts.models import Pipeline, PipelineSubject, StagePromotion
from rollouts.services import pipelines


@login_required
def pipeline_list(request: HttpRequest) -> HttpResponse:
    rows = Pipeline.objects.prefetch_related("stages").order_by("name")
    context = {"pipelines": rows, "can_define": pipelines.may_define(request.user)}
    return render(request, "rollouts/pipelines.html", context)


def _board(request: HttpRequest, pipeline: Pipeline) -> list[dict[str, Any]]:
    links = [
        link
        for link in PipelineSubject.objects.filter(pipeline=pipeline).order_by("created_at")
        if link.kind in registry.names()
        and access.subject_visible(request.user, link.kind, link.subject_id)
    ]
    rows = pipelines.board(pipeline, links)
    for row in rows:
        manage = access.may_manage(request.user, row["kind"], row["subject_id"])
        row["manage"] = manage
        stages = row["stages"]
        # The revision a stage may be offered: the one the stage before has soaked cleanly.
        for before, stage in zip(stages, stages[1:], strict=False):
            ready = before["state"] == StagePromotion.State.DONE and (
                stage["revision"] is None or stage["revision"] < before["revision"]
            )
            stage["offer"] = before["revision"] if manage and ready else None
    return rows


def _context(request: HttpRequest, pipeline: Pipeline) -> dict[str, Any]:
    admin = pipelines.may_define(request.user)
    return {
        "pipeline": pipeline,
        "stages": list(pipeline.stages.order_by("position").select_related("approval_group")),
        "rows": _board(request, pipeline),
        "report": pipelines.version_report(pipeline) if admin else None,
        "can_define": admin,
    }


@login_required
def pipeline_board(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    pipeline = get_object_or_404(Pipeline, pk=pk)
    context = _context(request, pipeline)
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "rollouts/_board.html", context)
    return render(request, "rollouts/pipeline.html", context)


@login_required
@require_POST
def pipeline_detach(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """Take a subject out of this pipeline from the board (managers of the subject: a 404
    for a subject one cannot see, a 403 without the right). With htmx, answers the board."""
    pipeline = get_object_or_404(Pipeline, pk=pk)
    kind = request.POST.get("kind", "")
    try:
        subject = uuid.UUID(request.POST.get("subject_id", ""))
    except ValueError:
        raise Http404 from None
    if not access.subject_visible(request.user, kind, subject):
        raise Http404
    if not access.may_manage(request.user, kind, subject):
        raise PermissionDenied
    label = registry.kind(kind).label(subject)
    if pipelines.detach(pipeline, kind, subject, actor=request.user):
        note = f"{label} was taken out of {pipeline.name}: its next revisions go by its policy."
    else:
        note = f"{label} is not in {pipeline.name}."
    if request.htmx:  # type: ignore[attr-defined]
        context = {**_context(request, pipeline), "note": note}
        return render(request, "rollouts/_board.html", context)
    messages.info(request, note)
    return redirect("rollouts:pipeline", pipeline.pk)


@login_required
@require_POST
def pipeline_promote(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    pipeline = get_object_or_404(Pipeline, pk=pk)
    kind = request.POST.get("kind", "")
    try:
        subject = uuid.UUID(request.POST.get("subject_id", ""))
        revision, stage = int(request.POST.get("revision", "")), int(request.POST.get("stage", ""))
    except ValueError:
        messages.error(request, "Not a promotion.")
        return redirect("rollouts:pipeline", pipeline.pk)
    if not access.subject_visible(request.user, kind, subject):
        raise Http404
    if not access.may_manage(request.user, kind, subject):
        raise Http404
    try:
        pipelines.promote(pipeline, kind, subject, revision, stage, actor=request.user)
    except ServiceError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Revision {revision} promoted.")
    return redirect("rollouts:pipeline", pipeline.pk)
