"""Route pages: create, edit and delete a project's route (ordered stages: local
environments of the source space, then target spaces with the lifecycle to use there), and
the values ODCM holds for remote environments ("Prod: Production"). Who may: the managers
of the route's space (promotions.access); the services check everything again."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from spaces.models import Space

from . import access, forms
from .errors import PromotionError
from .models import RemoteSpace, Route, RouteStage
from .services import routes

BLANK_ROWS = 2
MAX_ROWS = 30  # StageFormSet.max_num


def _managed_space(request: HttpRequest, pk: Any) -> Space:
    space = get_object_or_404(access.visible_spaces(request.user).select_related("instance"), pk=pk)
    if not access.can_manage(request.user, space):
        raise PermissionDenied
    return space


def _managed_route(request: HttpRequest, pk: Any) -> Route:
    route = get_object_or_404(access.routes(request.user).select_related("space__instance"), pk=pk)
    if not access.can_manage(request.user, route.space):
        raise PermissionDenied
    return route


def _initial(route: Route | None) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    if route is not None:
        for n, stage in enumerate(route.stages.all(), 1):
            value = (
                f"env:{stage.environment}"
                if stage.kind == RouteStage.Kind.ENVIRONMENT
                else f"space:{stage.target_id}"
            )
            rows.append({"position": n, "stage": value, "lifecycle": stage.lifecycle})
    start = len(rows)
    rows += [{"position": start + i} for i in range(1, BLANK_ROWS + 1)]
    return rows


def _posted_rows(data: Any, drop: str = "") -> list[dict[str, Any]]:
    """The stage rows as posted (not validated), without those marked for deletion and
    row number ``drop`` (counted from 0 as posted)."""
    try:
        total = min(max(int(data.get("stages-TOTAL_FORMS") or 0), 0), MAX_ROWS)
    except ValueError:
        total = 0
    rows = []
    for i in range(total):
        if data.get(f"stages-{i}-DELETE") or str(i) == drop:
            continue
        row = {
            key: str(data.get(f"stages-{i}-{key}") or "")
            for key in ("position", "stage", "lifecycle")
        }
        if row["stage"].startswith("env:"):
            row["lifecycle"] = ""  # an environment has none (the field is hidden for it)
        rows.append(row)
    return rows


def _rearranged(data: Any) -> list[dict[str, Any]] | None:
    """The rows after "Add a stage" (one more, last), "Remove" (that row gone) or a changed
    stage choice ("refresh": as they are); None when the post is a save."""
    rows = _posted_rows(data, drop=str(data.get("remove", "")))
    if "add" in data:
        if len(rows) < MAX_ROWS:
            numbers = [int(r["position"]) for r in rows if r["position"].isdigit()]
            rows.append({"position": max(numbers, default=0) + 1})
        return rows
    if "remove" in data or "refresh" in data:
        return rows
    return None


def _lifecycle_names(targets: dict[str, RemoteSpace]) -> Callable[[str], list[str] | None]:
    """Lifecycle names of a ``space:<uuid>`` stage choice, read once per target space."""
    seen: dict[str, list[str] | None] = {}

    def names(choice: str) -> list[str] | None:
        key = choice.partition(":")[2]
        if key not in seen:
            target = targets.get(key)
            seen[key] = routes.lifecycle_names(target) if target is not None else None
        return seen[key]

    return names


def _stages(
    formset: Any, targets: dict[str, RemoteSpace]
) -> tuple[list[routes.StageInput], list[Any]]:
    """The filled, not deleted stage rows as service input, and the form of each."""
    stages, rows = [], []
    for form in formset.forms:
        data = form.cleaned_data
        if not data or data.get("DELETE") or not data.get("stage"):
            continue
        kind, _, value = str(data["stage"]).partition(":")
        stage = routes.StageInput(
            position=int(data["position"]),
            environment=value if kind == "env" else "",
            target=targets.get(value) if kind == "space" else None,
            lifecycle=str(data.get("lifecycle") or "").strip(),
        )
        stages.append(stage)
        rows.append(form)
    return stages, rows


def _show_errors(
    errors: dict[str, list[str]], form: Any, rows: list[Any], general: list[str]
) -> None:
    for key, problems in errors.items():
        if key == "project":
            for p in problems:
                form.add_error("project", p)
            continue
        head, _, field = key.partition(".")
        if head.startswith("stages[") and rows:
            row = rows[int(head[len("stages[") : -1]) - 1]
            name = {"environment": "stage", "target": "stage"}.get(field, field or "stage")
            for p in problems:
                row.add_error(name if name in row.fields else None, p)
            continue
        general.extend(problems)


@login_required
def route_form(
    request: HttpRequest, space_pk: uuid.UUID | None = None, pk: uuid.UUID | None = None
) -> HttpResponse:
    """New route (``space_pk``) or edit one (``pk``)."""
    route = _managed_route(request, pk) if pk else None
    space = route.space if route is not None else _managed_space(request, space_pk)
    try:
        facts = routes.source_facts(space)
    except PromotionError as exc:
        messages.error(request, exc.message)
        return redirect("promotions:route", pk=route.pk) if route else redirect("promotions:index")
    targets = {str(t.pk): t for t in routes.target_choices(space)}
    form_kwargs = {
        "stage_choices": forms.stage_choices(facts.environments, list(targets.values())),
        "lifecycles": _lifecycle_names(targets),
        "refresh_url": request.path,
    }
    fixed = route.project_id if route is not None else ""
    general: list[str] = []
    rearranged = _rearranged(request.POST) if request.method == "POST" else None
    if request.method == "POST" and rearranged is None:
        form = forms.RouteForm(request.POST, projects=facts.projects, fixed=fixed)
        formset = forms.StageFormSet(request.POST, prefix="stages", form_kwargs=form_kwargs)
        if form.is_valid() and formset.is_valid():
            stages, rows = _stages(formset, targets)
            try:
                saved = routes.save_route(
                    space,
                    fixed or form.cleaned_data["project"],
                    stages,
                    actor=request.user,
                    facts=facts,
                )
            except PromotionError as exc:
                _show_errors(
                    exc.errors if isinstance(exc.errors, dict) else {}, form, rows, general
                )
                if not general and not exc.errors:
                    general.append(exc.message)
            else:
                messages.success(request, f"Route of {saved.project_name} saved.")
                return redirect("promotions:route", pk=saved.pk)
    else:
        # A first view, or rows added, removed or re-chosen: shown again, not yet checked.
        initial = (
            {"project": request.POST.get("project", "")}
            if rearranged is not None and not fixed
            else {}
        )
        form = forms.RouteForm(initial=initial, projects=facts.projects, fixed=fixed)
        formset = forms.StageFormSet(
            initial=_initial(route) if rearranged is None else rearranged,
            prefix="stages",
            form_kwargs=form_kwargs,
        )
    context = {"space": space, "route": route, "form": form, "formset": formset}
    if request.htmx and rearranged is not None:  # type: ignore[attr-defined]
        return render(request, "promotions/_route_stages.html", context)
    return render(request, "promotions/route_form.html", {**context, "general": general})


@login_required
@require_POST
def route_delete(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    route = _managed_route(request, pk)
    name = route.project_name
    routes.delete_route(route, actor=request.user)
    messages.success(request, f"Route of {name} deleted.")
    return redirect("promotions:index")


@login_required
@require_POST
def value_set(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    route = _managed_route(request, pk)
    targets = [s.target for s in route.stages.select_related("target") if s.target is not None]
    form = forms.RemoteValueForm(request.POST, targets=targets)
    if not form.is_valid():
        problems = [
            f"{form.fields[k].label}: {' '.join(str(e) for e in v)}" for k, v in form.errors.items()
        ]
        messages.error(request, "The value was not saved. " + " ".join(problems))
        return redirect("promotions:route", pk=route.pk)
    d = form.cleaned_data
    target = next(t for t in targets if str(t.pk) == d["target"])
    try:
        row = routes.set_value(
            route,
            target,
            d["environment"],
            d["name"],
            d["value"] if d["value"] != "" or not d["sensitive"] else None,
            sensitive=d["sensitive"],
            actor=request.user,
        )
    except PromotionError as exc:
        messages.error(request, f"The value was not saved: {exc.message}")
    else:
        messages.success(
            request, f"Value of {row.name} for {target.name}: {d['environment']} saved."
        )
    return redirect("promotions:route", pk=route.pk)


@login_required
@require_POST
def value_delete(request: HttpRequest, pk: uuid.UUID, value_id: int) -> HttpResponse:
    route = _managed_route(request, pk)
    try:
        routes.delete_value(route, value_id, actor=request.user)
        messages.success(request, "Value removed.")
    except PromotionError as exc:
        messages.error(request, exc.message)
    return redirect("promotions:route", pk=route.pk)
