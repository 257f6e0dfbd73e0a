"""Registry pages: instances, spaces (tiles), one space, the switcher. Views call
spaces.services; access goes through identity.access (not visible: 404)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from audit.models import AuditEntry
from identity.access import (
    can_manage_instance,
    can_manage_space,
    is_admin,
)
from odcm.htmx import HtmxHttpRequest
from spaces import services, signals
from spaces.forms import (
    CreateSpaceForm,
    DeleteSpaceForm,
    EnlistForm,
    InstanceForm,
    RotateKeyForm,
    StandardEnvironmentsForm,
)
from spaces.models import Instance, Space, StandardEnvironment
from spaces.services import RegistryError


def _instance(request: HttpRequest, pk: Any) -> Instance:
    return get_object_or_404(Instance.objects.visible_to(request.user), pk=pk)


def _managed_instance(request: HttpRequest, pk: Any) -> Instance:
    instance = _instance(request, pk)
    if not can_manage_instance(request.user, instance):
        raise PermissionDenied
    return instance


def _space(request: HttpRequest, pk: Any) -> Space:
    return get_object_or_404(
        Space.objects.visible_to(request.user).select_related("instance"), pk=pk
    )


def _admin(request: HttpRequest) -> None:
    if not is_admin(request.user):
        raise PermissionDenied


# What django's json_script escapes, for JSON text we already have as a string.
_SCRIPT_ESCAPES = {ord(">"): "\\u003E", ord("<"): "\\u003C", ord("&"): "\\u0026"}


def json_for_script(text: str) -> str:
    """JSON text made safe to sit inside <script type="application/json">."""
    return mark_safe(text.translate(_SCRIPT_ESCAPES))  # escaped here, as json_script does


# A person's own bookkeeping, not a change to the space: the audit log keeps it, the space's
# "Recent changes" (which everyone who sees the space reads) does not show it.
PERSONAL_ACTIONS = ("space.favourite", "space.unfavourite")


def _audit(object_type: str, ids: list[str], limit: int = 15) -> list[AuditEntry]:
    return list(
        AuditEntry.objects.filter(object_type=object_type, object_id__in=ids)
        .exclude(action__in=PERSONAL_ACTIONS)
        .order_by("-at")[:limit]
    )


# ------------------------------------------------------------------ instances


@login_required
def enlist(request: HttpRequest) -> HttpResponse:
    _admin(request)
    form = EnlistForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            instance = services.enlist_instance(
                name=data["name"],
                base_url=data["base_url"],
                api_key=data["api_key"],
                region=data["region"],
                description=data["description"],
                tags=data["tags"],
                space_ids=None if data["enlist_all"] else [],
                actor=request.user,
                request=request,
            )
        except RegistryError as exc:
            form.add_error(None, exc.message)
        else:
            count = instance.spaces.count()
            if data["enlist_all"]:
                messages.success(
                    request, f"Enlisted {instance.name} with {count} space{pluralize(count)}."
                )
            else:
                messages.success(
                    request,
                    f"Enlisted {instance.name}; its {count} space{pluralize(count)} "
                    f"{pluralize(count, 'is,are')} listed: enlist the ones "
                    "you want below.",
                )
            return redirect("spaces:instance", pk=instance.pk)
    return render(request, "spaces/enlist.html", {"form": form})


@login_required
@require_GET
def instance(request: HttpRequest, pk: Any) -> HttpResponse:
    inst = _instance(request, pk)
    visible = Space.objects.visible_to(request.user).filter(instance=inst).order_by("state", "name")
    spaces = list(visible)
    entries = _audit("spaces.instance", [str(inst.pk)])
    space_entries = _audit("spaces.space", [str(s.pk) for s in spaces[:500]])
    recent = sorted(entries + space_entries, key=lambda e: e.at, reverse=True)[:15]
    return render(
        request,
        "spaces/instance.html",
        {
            "instance": inst,
            "spaces": spaces,
            "tags": list(inst.tags.values_list("name", flat=True)),
            "owners": list(inst.owners.values_list("username", flat=True)),
            "audit": recent,
            "can_manage": can_manage_instance(request.user, inst),
            "is_admin": is_admin(request.user),
            # Status history, alerts and the like come from the apps above the registry.
            "panels": signals.instance_panels(request, inst),
        },
    )


@login_required
def instance_edit(request: HttpRequest, pk: Any) -> HttpResponse:
    inst = _managed_instance(request, pk)
    admin = is_admin(request.user)
    form = InstanceForm(request.POST or None, instance=inst, can_set_owners=admin)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        fresh = Instance.objects.get(pk=inst.pk)  # the form already changed ``inst``
        try:
            services.update_instance(
                fresh,
                name=data["name"],
                region=data["region"],
                description=data["description"],
                enlist_new_spaces=data["enlist_new_spaces"],
                tags=data["tags"],
                owners=data.get("owners") if admin else None,
                actor=request.user,
                request=request,
            )
        except RegistryError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, "Saved.")
            return redirect("spaces:instance", pk=inst.pk)
    return render(request, "spaces/instance_edit.html", {"instance": inst, "form": form})


@login_required
@require_POST
def instance_refresh(request: HttpRequest, pk: Any) -> HttpResponse:
    inst = _managed_instance(request, pk)
    try:
        result = services.refresh_instance(inst, actor=request.user, request=request)
    except RegistryError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Refreshed {inst.name}: {result}.")
    return redirect("spaces:instance", pk=inst.pk)


@login_required
def instance_rotate(request: HttpRequest, pk: Any) -> HttpResponse:
    inst = _managed_instance(request, pk)
    form = RotateKeyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.rotate_api_key(
                inst, form.cleaned_data["api_key"], actor=request.user, request=request
            )
        except RegistryError as exc:
            form.add_error(None, f"{exc.message} The old key is still in use.")
        else:
            messages.success(request, "The new API key works and replaced the old one.")
            return redirect("spaces:instance", pk=inst.pk)
    return render(request, "spaces/rotate.html", {"instance": inst, "form": form})


@login_required
@require_POST
def instance_unenlist(request: HttpRequest, pk: Any) -> HttpResponse:
    inst = _instance(request, pk)
    _admin(request)
    if request.POST.get("confirm_name", "").strip() != inst.name:
        messages.error(request, "Type the instance's name to confirm.")
        return redirect("spaces:instance", pk=inst.pk)
    name = inst.name
    services.unenlist_instance(inst, actor=request.user, request=request)
    messages.success(request, f"{name} is no longer enlisted. Nothing changed in Octopus.")
    return redirect("spaces:instances")


@login_required
def space_create(request: HttpRequest, pk: Any) -> HttpResponse:
    inst = _managed_instance(request, pk)
    users: list[tuple[str, str]] = []
    teams: list[tuple[str, str]] = []
    try:
        users, teams = services.octopus_people(inst)
    except RegistryError as exc:
        messages.warning(request, f"Could not list Octopus users and teams: {exc.message}")
    form = CreateSpaceForm(
        request.POST or None,
        users=users,
        teams=teams,
        setup_options=signals.setup_options(request.user),
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            created = services.create_space(
                inst,
                name=data["name"],
                description=data["description"],
                manager_user_ids=data["manager_users"],
                manager_team_ids=data["manager_teams"],
                groups=data["groups"],
                stamp_environments=data["stamp_environments"],
                setup=data["setup"],
                actor=request.user,
                request=request,
            )
        except RegistryError as exc:
            form.add_error(None, exc.message)
        else:
            for warning in created.warnings:
                messages.warning(request, warning)
            messages.success(request, f"Created {created.space.name} in Octopus and enlisted it.")
            return redirect("spaces:space", pk=created.space.pk)
    return render(request, "spaces/space_create.html", {"instance": inst, "form": form})


# ------------------------------------------------------------------ spaces


@login_required
@require_GET
def space_list(request: HttpRequest) -> HttpResponse:
    data, count = services.tiles_json(request.user)
    return render(
        request,
        "spaces/list.html",
        {"tiles": json_for_script(data), "count": count, "query": request.GET.get("q", "")},
    )


@login_required
@require_GET
def space(request: HttpRequest, pk: Any) -> HttpResponse:
    sp = _space(request, pk)
    services.record_visit(request.user, sp)
    return render(
        request,
        "spaces/space.html",
        {
            "space": sp,
            "instance": sp.instance,
            "starred": sp.favourites.filter(user=request.user.pk).exists(),
            "audit": _audit("spaces.space", [str(sp.pk)]),
            "can_manage": can_manage_instance(request.user, sp.instance),
            "can_manage_space": can_manage_space(request.user, sp),
            "is_admin": is_admin(request.user),
        },
    )


STATE_VERBS = ("enlist", "unenlist", "forget")


@login_required
@require_http_methods(["GET", "POST"])
def space_state(request: HttpRequest, pk: Any, verb: str) -> HttpResponse:
    """Enlist, un-enlist (after a confirmation) or forget a gone space."""
    if verb not in STATE_VERBS:
        raise Http404
    sp = _space(request, pk)
    if not can_manage_instance(request.user, sp.instance):
        raise PermissionDenied
    back = request.POST.get("next") or request.GET.get("next") or ""
    if verb != "enlist" and request.POST.get("confirm") != "yes":
        # Nothing changes on a click alone: say what will happen and ask.
        return render(
            request, "spaces/space_state_confirm.html", {"space": sp, "verb": verb, "next": back}
        )
    try:
        if verb == "forget":
            services.forget_space(sp, actor=request.user, request=request)
        else:
            services.set_enlisted(sp, verb == "enlist", actor=request.user, request=request)
    except RegistryError as exc:
        messages.error(request, exc.message)
    else:
        done = {
            "enlist": "enlisted",
            "unenlist": "un-enlisted (nothing changed in Octopus)",
            "forget": "forgotten: ODCM no longer lists it",
        }[verb]
        messages.success(request, f"{sp.name} is {done}.")
    if back == "instance" or verb == "forget":
        return redirect("spaces:instance", pk=sp.instance_id)
    return redirect("spaces:space", pk=sp.pk)


@login_required
def space_delete(request: HttpRequest, pk: Any) -> HttpResponse:
    sp = _space(request, pk)
    _admin(request)
    form = DeleteSpaceForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.delete_space(
                sp,
                confirm_name=form.cleaned_data["confirm_name"],
                actor=request.user,
                request=request,
            )
        except RegistryError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"Deleted {sp.name} in Octopus.")
            return redirect("spaces:instance", pk=sp.instance_id)
    return render(request, "spaces/space_delete.html", {"space": sp, "form": form})


@login_required
@require_POST
def favourite(request: HtmxHttpRequest, pk: Any) -> HttpResponse:
    sp = _space(request, pk)
    starred = services.set_favourite(request.user, sp, request.POST.get("starred") != "0")
    if request.htmx:
        return render(request, "spaces/_star.html", {"space": sp, "starred": starred})
    return redirect("spaces:space", pk=sp.pk)


@login_required
@require_GET
def switcher(request: HttpRequest) -> HttpResponse:
    return render(request, "spaces/_switcher.html", services.switcher(request.user))


@login_required
def standard_environments(request: HttpRequest) -> HttpResponse:
    _admin(request)
    current = list(StandardEnvironment.objects.values_list("name", flat=True))
    form = StandardEnvironmentsForm(request.POST or None, initial={"names": "\n".join(current)})
    if request.method == "POST" and form.is_valid():
        services.set_standard_environments(
            form.cleaned_data["names"], actor=request.user, request=request
        )
        messages.success(request, "Saved the standard environments.")
        return redirect("spaces:standard-environments")
    return render(request, "spaces/standard_environments.html", {"form": form})
