"""Instance-baseline pages: edit, assign, plan, apply, per-instance status and drift.
Administrators only (a baseline changes instance-wide settings); others get a 404.
Views call managed.services, never tasks."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from identity.access import is_admin
from managed import signals, views_common
from managed.forms import (
    BaselineForm,
    BaselineRevisionForm,
    BaselineRulesForm,
    InstanceAssignForm,
)
from managed.models import BaselineTarget, InstanceBaseline
from managed.services import baseline_broker, baselines
from managed.services.baseline_content import BaselineInvalid
from odcm.work import enqueue
from spaces.models import Instance


def _admin(request: HttpRequest) -> None:
    if not is_admin(request.user):
        raise Http404


def _baseline(request: HttpRequest, pk: Any) -> InstanceBaseline:
    _admin(request)
    return get_object_or_404(InstanceBaseline, pk=pk)


@login_required
def baseline_list(request: HttpRequest) -> HttpResponse:
    _admin(request)
    form = BaselineForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            baseline = baselines.create_baseline(
                data["name"],
                data["document"],
                description=data["description"],
                on_drift=data["on_drift"],
                actor=request.user,
            )
        except BaselineInvalid as exc:
            form.add_error("document", str(exc))
        else:
            messages.success(request, f"Baseline {baseline.name} created.")
            return redirect("managed:baseline", pk=baseline.pk)
    rows = InstanceBaseline.objects.annotate(instances=Count("targets")).order_by("name")
    return render(request, "managed/baselines.html", {"baselines": rows, "form": form})


@login_required
def baseline(request: HttpRequest, pk: Any) -> HttpResponse:
    bl = _baseline(request, pk)
    latest = baselines.latest(bl)
    document = json.dumps(latest.content if latest else {}, indent=2)
    revision_form = BaselineRevisionForm(request.POST or None, initial={"document": document})
    if request.method == "POST":
        saved = views_common.save_revision(
            request, revision_form, baselines.save_revision, bl, "managed:baseline"
        )
        if saved is not None:
            return saved
    free = Instance.objects.exclude(baseline_targets__isnull=False).order_by("name")
    context = {
        "bl": bl,
        "revision_form": revision_form,
        "assign_form": InstanceAssignForm(instances=free),
        "rules_form": BaselineRulesForm(
            initial={
                "all_instances": bl.all_instances,
                "tags": ", ".join(t.name for t in bl.instance_tags.all()),
                "regions": ", ".join(bl.regions),
            }
        ),
        "targets": bl.targets.select_related("instance").order_by("instance__name"),
        "revisions": bl.revisions.all()[:20],
        "panels": signals.panels(request, bl),
    }
    return render(request, "managed/baseline.html", context)


@login_required
@require_POST
def baseline_assign(request: HttpRequest, pk: Any) -> HttpResponse:
    bl = _baseline(request, pk)
    form = InstanceAssignForm(request.POST, instances=Instance.objects.all())
    if form.is_valid():
        try:
            made = baselines.assign(bl, list(form.cleaned_data["instances"]), actor=request.user)
        except BaselineInvalid as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"Assigned to {len(made)} instance(s).")
    else:
        messages.error(request, "Choose instances.")
    return redirect("managed:baseline", pk=bl.pk)


@login_required
@require_POST
def baseline_rules(request: HttpRequest, pk: Any) -> HttpResponse:
    bl = _baseline(request, pk)
    form = BaselineRulesForm(request.POST)
    if form.is_valid():
        try:
            made = baselines.set_rules(
                bl,
                all_instances=form.cleaned_data["all_instances"],
                tags=form.split("tags"),
                regions=form.split("regions"),
                actor=request.user,
            )
        except BaselineInvalid as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"Rules saved; {len(made)} instance(s) added.")
    return redirect("managed:baseline", pk=bl.pk)


@login_required
@require_POST
def baseline_plan(request: HttpRequest, pk: Any) -> HttpResponse:
    bl = _baseline(request, pk)
    task = "managed.tasks.plan_baseline"
    return views_common.plan(request, task, bl, "managed:baseline", "instance")


@login_required
@require_POST
def baseline_apply(request: HttpRequest, pk: Any) -> HttpResponse:
    bl = _baseline(request, pk)
    return views_common.apply(
        request, baseline_broker.queue_apply, bl, "managed:baseline", "instance"
    )


@login_required
@require_POST
def baseline_check(request: HttpRequest, pk: Any) -> HttpResponse:
    bl = _baseline(request, pk)
    rows = bl.targets.filter(status__in=[BaselineTarget.Status.APPLIED, "drifted"])
    for ident in rows.values_list("pk", flat=True):
        enqueue("managed.tasks.check_baseline_drift", str(ident))
    messages.info(request, "Checking every applied instance for drift; refresh to see it.")
    return redirect("managed:baseline", pk=bl.pk)
