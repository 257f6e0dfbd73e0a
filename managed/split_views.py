"""Pages for splitting a space (a wizard: pick, plan, run, verify) and for customers with
facade spaces. Views call managed.services, never tasks."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from identity.access import can_manage_instance
from managed import access
from managed.forms import CustomerForm, SplitForm, SplitSourceForm
from managed.services import facades
from managed.services import split as splits
from managed.services.facades import CustomerError
from octopus import OctopusError
from odcm.clients import client_for
from odcm.errors import ServiceError
from spaces.models import Instance, Space
from spaces.services.octopus_spaces import create_space


def _spaces(request: HttpRequest) -> Any:
    return Space.objects.manageable_by(request.user).select_related("instance").order_by("name")


def _instances(request: HttpRequest) -> list[Instance]:
    rows = Instance.objects.visible_to(request.user).order_by("name")
    return [i for i in rows if can_manage_instance(request.user, i)]


def _instance_rows(request: HttpRequest) -> Any:
    return Instance.objects.filter(pk__in=[i.pk for i in _instances(request)]).order_by("name")


def _project_names(source: Space) -> list[str]:
    with client_for(source.instance) as client:
        return sorted(str(p["Name"]) for p in client.get_all(f"/api/{source.octopus_id}/projects"))


@login_required
def split_list(request: HttpRequest) -> HttpResponse:
    """Step 1 (pick the source) and step 2 (projects, target, source action) of the wizard."""
    spaces = _spaces(request)
    source_form = SplitSourceForm(request.GET or None, spaces=spaces)
    form = None
    source = None
    if source_form.is_valid():
        source = source_form.cleaned_data["source"]
        try:
            names = _project_names(source)
        except OctopusError as exc:
            messages.error(request, f"{source.name} could not be read: {exc}")
            names = []
        form = SplitForm(
            request.POST or None,
            projects=names,
            spaces=spaces.exclude(pk=source.pk),
            instances=_instance_rows(request),
        )
        if request.method == "POST" and form.is_valid():
            made = _create(request, source, form)
            if made is not None:
                return redirect("managed:split", pk=made.pk)
    rows = access.visible_splits(request.user).select_related("source", "target")
    context = {"splits": rows[:50], "source_form": source_form, "form": form, "source": source}
    return render(request, "managed/splits.html", context)


def _create(request: HttpRequest, source: Space, form: SplitForm) -> Any:
    data = form.cleaned_data
    target = data["target"]
    instance = data["new_space_instance"]
    if not access.can_split(request.user, source, target, instance):
        raise PermissionDenied
    try:
        if target is None:
            target = create_space(
                instance,
                name=data["new_space_name"],
                description=f"Split out of {source.name}.",
                actor=request.user,
                request=request,
            ).space
        return splits.create_split(
            source,
            target,
            list(data["projects"]),
            source_action=data["source_action"],
            actor=request.user,
        )
    except (ServiceError, OctopusError) as exc:
        form.add_error(None, str(exc))
        return None


@login_required
def split(request: HttpRequest, pk: Any) -> HttpResponse:
    row = get_object_or_404(
        access.visible_splits(request.user).select_related("source", "target"), pk=pk
    )
    runnable = access.can_split(request.user, row.source, row.target)
    return render(request, "managed/split.html", {"split": row, "runnable": runnable})


@login_required
@require_POST
def split_run(request: HttpRequest, pk: Any) -> HttpResponse:
    row = get_object_or_404(access.visible_splits(request.user), pk=pk)
    if not access.can_split(request.user, row.source, row.target):
        raise PermissionDenied
    if splits.queue_run(row, actor=request.user):
        messages.success(request, "Copying; the result of the verification shows here.")
    else:
        messages.error(request, "This split cannot run now (blocked, running or done).")
    return redirect("managed:split", pk=row.pk)


@login_required
def customer_list(request: HttpRequest) -> HttpResponse:
    form = CustomerForm(
        request.POST or None,
        spaces=_spaces(request),
        blueprints=access.visible_blueprints(request.user).filter(latest_revision__gt=0),
        instances=_instance_rows(request),
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        mgmt = data["management_space"]
        instance = data["instance"] or mgmt.instance
        bp = data["blueprint"]
        if not access.can_add_customer(request.user, mgmt, instance) or (
            bp is not None and not access.can_edit(request.user, bp)
        ):
            raise PermissionDenied
        try:
            customer = facades.create_customer(
                data["name"],
                mgmt,
                group=data["group"],
                blueprint=bp,
                instance=instance,
                api_key=data["api_key"],
                actor=request.user,
            )
        except CustomerError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"{customer.name}: facade space created; setting it up.")
            return redirect("managed:customer", pk=customer.pk)
    rows = access.visible_customers(request.user).select_related(
        "management_space", "facade_space", "group"
    )
    return render(request, "managed/customers.html", {"customers": rows, "form": form})


@login_required
def customer(request: HttpRequest, pk: Any) -> HttpResponse:
    row = get_object_or_404(
        access.visible_customers(request.user).select_related(
            "management_space", "facade_space", "group", "blueprint"
        ),
        pk=pk,
    )
    editable = access.can_manage_space_of(request.user, row)
    return render(request, "managed/customer.html", {"customer": row, "editable": editable})


@login_required
@require_POST
def customer_resync(request: HttpRequest, pk: Any) -> HttpResponse:
    row = get_object_or_404(access.visible_customers(request.user), pk=pk)
    if not access.can_manage_space_of(request.user, row):
        raise PermissionDenied
    key = request.POST.get("api_key", "").strip()
    if key:
        facades.set_api_key(row, key, actor=request.user)
        messages.success(request, "API key replaced; it is written at the next sync.")
    elif facades.queue_sync(row, actor=request.user):
        messages.success(request, "Resync queued.")
    else:
        messages.info(request, "A sync is running now.")
    return redirect("managed:customer", pk=row.pk)
