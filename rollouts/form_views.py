"""The forms of rollouts: start a deployment run, set a subject's rollout policy (and send it
through a pipeline), define a pipeline. Each checks access through identity's querysets
(``Space.objects.deployable_by``, ``visible_to``) and rollouts.access, calls a service (which
writes the audit record) and shows what is wrong next to the field."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from managed.access import visible_templates
from managed.models import Downstream
from rollouts import access, registry
from rollouts.forms import (
    AttachForm,
    PipelineForm,
    PolicyForm,
    RunForm,
    stage_formset,
    wave_formset,
)
from rollouts.models import Pipeline, PipelineSubject, RolloutPolicy
from rollouts.services import actions, orchestration, pipelines, planning
from spaces.models import Instance, Space

# -- deployment runs --------------------------------------------------------------------------


@login_required
def run_list(request: HttpRequest) -> HttpResponse:
    runs = access.visible_runs(request.user).select_related("created_by")[:50]
    return render(request, "rollouts/runs.html", {"runs": runs})


def _templates(request: HttpRequest, deployable: Any) -> Any:
    """Template projects the user sees with a downstream copy in a space they may deploy to."""
    copies = Downstream.objects.filter(space__in=deployable.values("pk")).exclude(
        octopus_project_id=""
    )
    rows = visible_templates(request.user).filter(pk__in=copies.values("template_id"))
    return rows.select_related("space").order_by("name")


def _deployable(request: HttpRequest) -> Any:
    rows = Space.objects.deployable_by(request.user).select_related("instance")
    return rows.prefetch_related("instance__tags").order_by("name", "instance__name")


RUN_FIELDS = (
    "project",
    "template",
    "new_copies",
    "release",
    "channel",
    "environment",
    "tenants",
    "max_failures",
    "max_failure_ratio",
)


@login_required
def run_new(request: HttpRequest) -> HttpResponse:
    """Choose a project, a release, an environment, tenants and the spaces in waves."""
    deployable = _deployable(request)
    waves = wave_formset()(request.POST or None, prefix="wave", spaces=deployable)
    templates = _templates(request, deployable)
    form = RunForm(request.POST or None, spaces=deployable, templates=templates)
    note = ""
    if request.method == "POST" and request.POST.get("find"):
        # "Find spaces": the spaces (of those one may deploy to) that have the project, or
        # hold a copy of the template.
        project = request.POST.get("project", "").strip()
        initial: dict[str, Any] = {k: request.POST.get(k, "") for k in RUN_FIELDS}
        template = _chosen_template(templates, request.POST.get("template", ""))
        if template is not None:
            copies = planning.template_copies(template, deployable)
            initial["spaces"] = list(copies)
            note = _copies_note(template, copies)
        else:
            found = planning.spaces_with_project(deployable, project) if project else None
            initial["spaces"] = [s.pk for s in found.spaces] if found else []
            note = _found_note(project, found)
        form = RunForm(initial=initial, spaces=deployable, templates=templates)
    elif request.method == "POST" and form.is_valid() and waves.is_valid():
        run = _start(request, form, waves, deployable)
        if run is not None:
            messages.success(request, f"Started: {run}.")
            return redirect("rollouts:run", run.pk)
    return render(request, "rollouts/run_new.html", {"form": form, "waves": waves, "note": note})


def _chosen_template(templates: Any, value: str) -> Any:
    try:
        return templates.filter(pk=uuid.UUID(value)).first() if value else None
    except ValueError:
        return None


def _copies_note(template: Any, copies: dict[str, str]) -> str:
    n = len(copies)
    text = f"{n} space{'s' if n != 1 else ''} you may deploy to "
    text += f"{'holds' if n == 1 else 'hold'} a copy of {template.name!r}"
    renamed = sorted({name for name in copies.values() if name != template.name})
    if renamed:
        text += f" (named there: {', '.join(renamed)})"
    return text + "."


def _found_note(project: str, found: planning.Found | None) -> str:
    if found is None:
        return "Name the project first."
    text = f"{len(found.spaces)} space{'s' if len(found.spaces) != 1 else ''} you may deploy to "
    text += f"{'has' if len(found.spaces) == 1 else 'have'} a project named {project!r}."
    if found.unreachable:
        text += f" Not answering: {', '.join(found.unreachable)}."
    return text


def _start(request: HttpRequest, form: RunForm, waves: Any, deployable: Any) -> Any:
    data = form.cleaned_data
    specs = waves.specs()
    template = data.get("template")
    copies = planning.template_copies(template, deployable) if template else {}
    pool = {s.pk: s for s in data["spaces"]}
    if template is not None and not pool:
        pool = {s.pk: s for s in deployable.filter(pk__in=list(copies))}
    explicit = {pk for spec in specs if spec["selector"] == "spaces" for pk in spec["spaces"]}
    for space in deployable.filter(pk__in=explicit):
        pool.setdefault(space.pk, space)
    if template is not None:
        without = sorted(s.name for pk, s in pool.items() if str(pk) not in copies)
        if not pool:
            form.add_error("template", "None of the spaces you may deploy to holds a copy.")
            return None
        if without:
            form.add_error(
                "spaces", f"These spaces hold no copy of {template.name}: {', '.join(without)}."
            )
            return None
    if not pool:
        found = planning.spaces_with_project(deployable, data["project"])
        pool = {s.pk: s for s in found.spaces}
        if not pool:
            form.add_error("project", _found_note(data["project"], found))
            return None
    plan = planning.plan(
        [
            planning.WaveSpec(
                selector=spec["selector"],
                spaces=frozenset(spec["spaces"]),
                value=spec["value"],
                percent=spec["percent"] or 0,
            )
            for spec in specs
        ],
        list(pool.values()),
    )
    try:
        return orchestration.start_run(
            user=request.user,
            project=template.name if template else data["project"],
            release=data["release"],
            channel=data["channel"],
            environment=data["environment"],
            tenants=data["tenants"],
            waves=[[s.pk for s in wave] for _, wave in plan],
            rules=[(spec.selector, spec.value) if spec else ("", "") for spec, _ in plan],
            projects=copies,
            template_id=template.pk if template else None,
            new_copies=bool(template and data.get("new_copies")),
            max_failures=data["max_failures"],
            max_failure_ratio=data.get("max_failure_ratio") or 0.0,
        )
    except orchestration.RunError as exc:
        form.add_error(None, str(exc))
        return None


# -- rollout policies -------------------------------------------------------------------------


def _subject(request: HttpRequest, kind: str, subject_id: uuid.UUID) -> None:
    if not access.subject_visible(request.user, kind, subject_id):
        raise Http404
    if not access.may_manage(request.user, kind, subject_id):
        raise PermissionDenied


def _policy_initial(policy: RolloutPolicy | None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    if policy is None:
        return {}, []
    top = {
        "enabled": policy.enabled,
        "max_failures": policy.max_failures,
        "max_failure_ratio": policy.max_failure_ratio,
        "soak_seconds": policy.soak_seconds,
        "approval_group": policy.approval_group.slug if policy.approval_group else None,
    }
    rows = [
        {
            "name": w.name,
            "selector": w.selector,
            "spaces": [s.pk for s in w.spaces.all()],
            "value": w.value,
            "percent": w.percent,
        }
        for w in policy.waves.prefetch_related("spaces").order_by("position")
    ]
    return top, rows


@login_required
def policy_edit(request: HttpRequest, kind: str, subject_id: uuid.UUID) -> HttpResponse:
    """Create, change or remove the rollout policy of a subject (a shared item, …)."""
    _subject(request, kind, subject_id)
    subject = registry.kind(kind)
    policy = RolloutPolicy.objects.filter(kind=kind, subject_id=subject_id).first()
    # Explicit waves choose among the subject's targets (subscribers may be spaces the
    # manager cannot otherwise see) and the spaces the manager sees.
    targets = {t.space_id for t in subject.targets(subject_id)}
    spaces = (
        Space.objects.filter(Q(pk__in=targets) | Q(pk__in=Space.objects.visible_to(request.user)))
        .select_related("instance")
        .order_by("name")
    )
    top, rows = _policy_initial(policy)
    data = request.POST if request.method == "POST" else None
    form = PolicyForm(data, initial=top or None)
    waves = wave_formset(extra=max(1, 3 - len(rows)))(
        data, prefix="wave", spaces=spaces, initial=rows
    )
    if request.method == "POST" and request.POST.get("delete"):
        if policy is not None:
            actions.delete_policy(policy, actor=request.user)
            messages.success(request, "Rollout policy removed: revisions go to everyone at once.")
        return redirect(subject.url(subject_id))
    if request.method == "POST" and form.is_valid() and waves.is_valid():
        specs = waves.specs()
        if not specs:
            form.add_error(None, "A policy needs at least one wave: choose a selector.")
        else:
            try:
                actions.save_policy(
                    kind,
                    subject_id,
                    specs,
                    max_failures=form.cleaned_data["max_failures"],
                    max_failure_ratio=form.cleaned_data["max_failure_ratio"],
                    soak_seconds=form.cleaned_data["soak_seconds"],
                    approval_group=form.cleaned_data["approval_group"],
                    enabled=form.cleaned_data["enabled"],
                    actor=request.user,
                )
            except actions.RolloutError as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, "Rollout policy saved.")
                return redirect(subject.url(subject_id))
    link = PipelineSubject.objects.filter(kind=kind, subject_id=subject_id).first()
    context = {
        "form": form,
        "waves": waves,
        "policy": policy,
        "kind": kind,
        "subject_id": subject_id,
        "label": subject.label(subject_id),
        "subject_url": subject.url(subject_id),
        "pipeline": link.pipeline if link else None,
        "attach_form": AttachForm(
            initial={"pipeline": link.pipeline_id if link else None},
            pipelines=Pipeline.objects.order_by("name"),
        ),
    }
    return render(request, "rollouts/policy_form.html", context)


@login_required
def policy_attach(request: HttpRequest, kind: str, subject_id: uuid.UUID) -> HttpResponse:
    """Send the subject's next revisions through a pipeline."""
    _subject(request, kind, subject_id)
    if request.method != "POST":
        return redirect("rollouts:policy", kind, subject_id)
    form = AttachForm(request.POST, pipelines=Pipeline.objects.order_by("name"))
    if form.is_valid():
        pipeline = form.cleaned_data["pipeline"]
        pipelines.attach(pipeline, kind, subject_id, actor=request.user)
        messages.success(request, f"Its next revisions go through {pipeline.name}.")
    else:
        messages.error(request, "Choose a pipeline.")
    return redirect("rollouts:policy", kind, subject_id)


@login_required
def policy_detach(request: HttpRequest, kind: str, subject_id: uuid.UUID) -> HttpResponse:
    """Take the subject out of its pipeline (a POST; managers of the subject)."""
    _subject(request, kind, subject_id)
    if request.method != "POST":
        return redirect("rollouts:policy", kind, subject_id)
    link = PipelineSubject.objects.filter(kind=kind, subject_id=subject_id).first()
    if link is not None and pipelines.detach(link.pipeline, kind, subject_id, actor=request.user):
        messages.success(
            request,
            f"Taken out of {link.pipeline.name}: its next revisions go by its rollout policy.",
        )
    else:
        messages.info(request, "It is in no pipeline.")
    return redirect("rollouts:policy", kind, subject_id)


# -- pipelines --------------------------------------------------------------------------------


def _stage_initial(pipeline: Pipeline | None) -> list[dict[str, Any]]:
    if pipeline is None:
        return []
    stages = pipeline.stages.prefetch_related("spaces", "instances").select_related(
        "approval_group"
    )
    return [
        {
            "name": s.name,
            "selector": s.selector,
            "spaces": [x.pk for x in s.spaces.all()],
            "instances": [x.pk for x in s.instances.all()],
            "value": s.value,
            "soak_seconds": s.soak_seconds,
            "approval_group": s.approval_group.slug if s.approval_group else None,
            "allowed_versions": ", ".join(s.allowed_versions),
        }
        for s in stages.order_by("position")
    ]


@login_required
def pipeline_edit(request: HttpRequest, pk: uuid.UUID | None = None) -> HttpResponse:
    """Define a pipeline (administrators: its stages span instances)."""
    if not pipelines.may_define(request.user):
        raise PermissionDenied
    pipeline = get_object_or_404(Pipeline, pk=pk) if pk else None
    rows = _stage_initial(pipeline)
    data = request.POST if request.method == "POST" else None
    top = {"name": pipeline.name, "description": pipeline.description} if pipeline else None
    form = PipelineForm(data, initial=top)
    stages = stage_formset(extra=max(1, 3 - len(rows)))(
        data,
        prefix="stage",
        initial=rows,
        spaces=Space.objects.select_related("instance").order_by("name"),
        instances=Instance.objects.order_by("name"),
    )
    if request.method == "POST" and form.is_valid() and stages.is_valid():
        name = form.cleaned_data["name"].strip()
        taken = Pipeline.objects.filter(name=name)
        if pipeline is not None:
            taken = taken.exclude(pk=pipeline.pk)
        specs = stages.specs()
        if taken.exists():
            form.add_error("name", "A pipeline of that name exists.")
        elif not specs:
            form.add_error(None, "A pipeline needs at least one stage: choose a selector.")
        else:
            try:
                saved = pipelines.save_pipeline(
                    name,
                    specs,
                    description=form.cleaned_data["description"],
                    pipeline=pipeline,
                    actor=request.user,
                )
            except pipelines.PipelineError as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, f"Pipeline {saved.name} saved.")
                return redirect("rollouts:pipeline", saved.pk)
    context = {"form": form, "stages": stages, "pipeline": pipeline}
    return render(request, "rollouts/pipeline_form.html", context)
