"""Managed-spaces pages: blueprints (edit, assign, plan, apply, per-space status, drift).
Views call managed.services, never tasks."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from identity.access import is_admin
from managed import access, signals, views_common
from managed.forms import (
    AssignForm,
    BlueprintForm,
    DownstreamForm,
    MarkTemplateForm,
    RevisionForm,
    RulesForm,
)
from managed.models import Blueprint, Downstream, TemplateProject
from managed.services import blueprints, broker, templates
from managed.services.content import BlueprintInvalid
from managed.services.templates import TemplateError
from octopus import OctopusError
from spaces.models import Space


def _blueprint(request: HttpRequest, pk: Any) -> Blueprint:
    return get_object_or_404(access.visible_blueprints(request.user), pk=pk)


def _editable(request: HttpRequest, pk: Any) -> Blueprint:
    blueprint = _blueprint(request, pk)
    if not access.can_edit(request.user, blueprint):
        raise PermissionDenied
    return blueprint


def _spaces(request: HttpRequest) -> Any:
    return Space.objects.manageable_by(request.user).select_related("instance").order_by("name")


@login_required
def index(request: HttpRequest) -> HttpResponse:
    form = BlueprintForm(request.POST or None, spaces=_spaces(request))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        space = data["management_space"]
        if space is None and not is_admin(request.user):
            form.add_error("management_space", "Choose a space you manage.")
        else:
            try:
                blueprint = blueprints.create_blueprint(
                    data["name"],
                    data["document"],
                    description=data["description"],
                    management_space=space,
                    on_drift=data["on_drift"],
                    actor=request.user,
                )
            except BlueprintInvalid as exc:
                form.add_error("document", str(exc))
            else:
                messages.success(request, f"Blueprint {blueprint.name} created.")
                return redirect("managed:blueprint", pk=blueprint.pk)
    rows = access.visible_blueprints(request.user).select_related("management_space")
    context = {"blueprints": rows, "form": form, "is_admin": is_admin(request.user)}
    return render(request, "managed/index.html", context)


@login_required
def blueprint(request: HttpRequest, pk: Any) -> HttpResponse:
    bp = _blueprint(request, pk)
    editable = access.can_edit(request.user, bp)
    latest = blueprints.latest(bp)
    document = json.dumps(latest.content if latest else {}, indent=2)
    revision_form = RevisionForm(request.POST or None, initial={"document": document})
    if request.method == "POST":
        if not editable:
            raise PermissionDenied
        saved = views_common.save_revision(
            request, revision_form, blueprints.save_revision, bp, "managed:blueprint"
        )
        if saved is not None:
            return saved
    targets = bp.targets.select_related("space__instance").order_by("space__name")
    context = {
        "bp": bp,
        "editable": editable,
        "is_admin": is_admin(request.user),
        "revision_form": revision_form,
        "assign_form": AssignForm(spaces=_spaces(request).exclude(blueprint_targets__blueprint=bp)),
        "rules_form": RulesForm(
            initial={
                "tags": ", ".join(t.name for t in bp.instance_tags.all()),
                "regions": ", ".join(bp.regions),
            }
        ),
        "targets": targets,
        "revisions": bp.revisions.all()[:20],
        "panels": signals.panels(request, bp),
    }
    return render(request, "managed/blueprint.html", context)


@login_required
@require_POST
def assign(request: HttpRequest, pk: Any) -> HttpResponse:
    bp = _editable(request, pk)
    form = AssignForm(request.POST, spaces=_spaces(request))
    if form.is_valid():
        try:
            made = blueprints.assign(bp, list(form.cleaned_data["spaces"]), actor=request.user)
        except BlueprintInvalid as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"Assigned to {len(made)} space(s).")
    else:
        messages.error(request, "Choose spaces you manage.")
    return redirect("managed:blueprint", pk=bp.pk)


@login_required
@require_POST
def rules(request: HttpRequest, pk: Any) -> HttpResponse:
    bp = _editable(request, pk)
    if not is_admin(request.user):
        raise PermissionDenied
    form = RulesForm(request.POST)
    if form.is_valid():
        try:
            made = blueprints.set_rules(
                bp, tags=form.split("tags"), regions=form.split("regions"), actor=request.user
            )
        except BlueprintInvalid as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"Rules saved; {len(made)} space(s) added.")
    return redirect("managed:blueprint", pk=bp.pk)


@login_required
@require_POST
def plan(request: HttpRequest, pk: Any) -> HttpResponse:
    bp = _editable(request, pk)
    task = "managed.tasks.plan_blueprint"
    return views_common.plan(request, task, bp, "managed:blueprint", "space")


@login_required
@require_POST
def apply(request: HttpRequest, pk: Any) -> HttpResponse:
    bp = _editable(request, pk)
    return views_common.apply(request, broker.queue_apply, bp, "managed:blueprint", "space")


# ---------------------------------------------------------------- template projects


@login_required
def template_list(request: HttpRequest) -> HttpResponse:
    form = MarkTemplateForm(request.POST or None, spaces=_spaces(request))
    if request.method == "POST" and form.is_valid():
        try:
            template = templates.mark_template(
                form.cleaned_data["space"], form.cleaned_data["project_name"], actor=request.user
            )
        except (TemplateError, OctopusError) as exc:
            form.add_error("project_name", str(exc))
        else:
            messages.success(request, f"{template.name} is a template (revision 1).")
            return redirect("managed:template", pk=template.pk)
    rows = access.visible_templates(request.user).select_related("space")
    return render(request, "managed/templates.html", {"templates": rows, "form": form})


def _template(request: HttpRequest, pk: Any, *, edit: bool = False) -> TemplateProject:
    template = get_object_or_404(access.visible_templates(request.user), pk=pk)
    if edit and not access.can_edit_template(request.user, template):
        raise PermissionDenied
    return template


@login_required
def template(request: HttpRequest, pk: Any) -> HttpResponse:
    tpl = _template(request, pk)
    editable = access.can_edit_template(request.user, tpl)
    form = DownstreamForm(request.POST or None, spaces=_spaces(request).exclude(pk=tpl.space_id))
    if request.method == "POST":
        if not editable:
            raise PermissionDenied
        if form.is_valid():
            data = form.cleaned_data
            overrides = {"name": data["name"]} if data["name"] else {}
            try:
                templates.add_downstream(
                    tpl, data["space"], overrides=overrides, mode=data["mode"], actor=request.user
                )
            except TemplateError as exc:
                form.add_error("space", str(exc))
            else:
                return redirect("managed:template", pk=tpl.pk)
    rows = tpl.downstreams.select_related("space__instance").order_by("space__name")
    context = {
        "tpl": tpl,
        "editable": editable,
        "form": form,
        "downstreams": rows,
        "revisions": tpl.revisions.all()[:20],
        "changes": templates.diff(tpl, max(tpl.latest_revision - 1, 0), tpl.latest_revision)
        if tpl.latest_revision
        else [],
        "panels": signals.panels(request, tpl),
    }
    return render(request, "managed/template.html", context)


@login_required
@require_POST
def template_push(request: HttpRequest, pk: Any) -> HttpResponse:
    tpl = _template(request, pk, edit=True)
    if request.POST.get("snapshot") == "1":
        try:
            saved = templates.snapshot(tpl, actor=request.user)
        except OctopusError as exc:
            messages.error(request, str(exc))
            return redirect("managed:template", pk=tpl.pk)
        messages.info(request, f"Revision {saved.number} taken." if saved else "No change.")
    else:
        queued = templates.queue_push(tpl, actor=request.user)
        messages.success(request, f"Pushing revision {tpl.latest_revision} to {queued} space(s).")
    return redirect("managed:template", pk=tpl.pk)


@login_required
@require_POST
def resolve(request: HttpRequest, pk: Any) -> HttpResponse:
    visible = access.visible_templates(request.user).values("pk")
    row = get_object_or_404(Downstream.objects.filter(template__in=visible), pk=pk)
    if not access.can_assign(request.user, row.space):
        raise PermissionDenied
    try:
        templates.resolve(
            row, request.POST.get("key", ""), request.POST.get("choice", ""), actor=request.user
        )
    except TemplateError as exc:
        messages.error(request, str(exc))
    return redirect("managed:template", pk=row.template_id)
