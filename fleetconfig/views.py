"""Pages: configuration as code (plans, Git sources, drift). Administrators only."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from fleetconfig import gitops
from fleetconfig import render as plan_text
from fleetconfig.forms import GitSourceForm, PlanForm
from fleetconfig.models import GitSource, Plan
from fleetconfig.services import PlanNotApplicable, StalePlan, apply_plan, export_text, make_plan
from identity.access import admin_only


@admin_only
@require_http_methods(["GET", "POST"])
def overview(request: HttpRequest) -> HttpResponse:
    form = PlanForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        plan = make_plan(
            form.cleaned_data["document"], actor=request.user, prune=form.cleaned_data["prune"]
        )
        return redirect("fleetconfig:plan", plan_id=plan.pk)
    sources = list(GitSource.objects.all())
    for source in sources:
        source.drift = gitops.drift(source)  # type: ignore[attr-defined]
    return render(
        request,
        "fleetconfig/overview.html",
        {
            "form": form,
            "plans": Plan.objects.select_related("created_by", "git_source")[:30],
            "sources": sources,
        },
    )


@admin_only
def export(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(export_text(), content_type="application/yaml; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="fleet.yaml"'
    return response


@admin_only
@require_http_methods(["GET", "POST"])
def plan(request: HttpRequest, plan_id: str) -> HttpResponse:
    row = get_object_or_404(Plan, pk=plan_id)
    if request.method == "POST":
        try:
            if row.git_source_id:
                row = gitops.approve(row, actor=request.user)
            else:
                row = apply_plan(row, actor=request.user)
        except (StalePlan, PlanNotApplicable) as exc:
            messages.error(request, str(exc))
        else:
            if row.status == Plan.Status.APPLIED:
                messages.success(request, "Applied.")
            elif row.status == Plan.Status.STALE:
                messages.error(request, "The configuration changed since this plan; plan again.")
            else:
                messages.warning(
                    request,
                    "Applied in part: see the failures below. Apply the "
                    "file again once they are fixed.",
                )
        return redirect("fleetconfig:plan", plan_id=row.pk)
    return render(request, "fleetconfig/plan.html", {"plan": row, "text": plan_text.text(row)})


@admin_only
@require_http_methods(["GET", "POST"])
def source(request: HttpRequest, source_id: str | None = None) -> HttpResponse:
    row = get_object_or_404(GitSource, pk=source_id) if source_id else None
    initial = (
        {}
        if row is None
        else {
            "name": row.name,
            "url": row.url,
            "branch": row.branch,
            "path": row.path,
            "username": row.username,
            "auto_apply": row.auto_apply,
            "prune": row.prune,
        }
    )
    form = GitSourceForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        token = data.pop("token") or None
        try:
            gitops.save_source(**data, token=token, actor=request.user, source=row)
        except gitops.GitError as exc:
            form.add_error("url", str(exc))
        else:
            messages.success(request, "Git source saved; it is polled on the next round.")
            return redirect("fleetconfig:overview")
    return render(request, "fleetconfig/source.html", {"form": form, "source": row})


@admin_only
@require_POST
def poll(request: HttpRequest, source_id: str) -> HttpResponse:
    row = get_object_or_404(GitSource, pk=source_id)
    plan = gitops.poll(row, force=True)
    row.refresh_from_db()
    if row.last_error:
        messages.error(request, row.last_error)
    elif plan is not None:
        return redirect("fleetconfig:plan", plan_id=plan.pk)
    return redirect("fleetconfig:overview")
