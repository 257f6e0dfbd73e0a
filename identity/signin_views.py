"""Administration of sign-in through ODCM for the Octopus instances: enable (register the
client, configure the instance through its API), check (read the settings back), a new
secret to paste (shown once), remove. Administrators only."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from identity.access import admin_only
from identity.models import OctopusSignIn, instance_model
from identity.services import octopus_signin


@admin_only
def sign_in_list(request: HttpRequest) -> HttpResponse:
    rows = {
        row.instance_id: row
        for row in OctopusSignIn.objects.select_related("instance").order_by("instance__name")
    }
    instances = list(instance_model().objects.order_by("name"))
    return render(
        request,
        "identity/sign_in.html",
        {
            "entries": [(inst, rows.get(inst.pk)) for inst in instances],
            "issuer": octopus_signin.issuer(),
            "tab": "sign-in",
        },
    )


def _instance(instance_id: Any) -> Any:
    return get_object_or_404(instance_model(), pk=instance_id)


@admin_only
def sign_in_detail(request: HttpRequest, instance_id: Any) -> HttpResponse:
    instance = _instance(instance_id)
    row = get_object_or_404(OctopusSignIn, instance=instance)
    return render(
        request,
        "identity/sign_in_detail.html",
        {
            "instance": instance,
            "row": row,
            "settings": octopus_signin.settings_to_paste(row),
            "new_secret": None,
            "tab": "sign-in",
        },
    )


@admin_only
@require_POST
def sign_in_enable(request: HttpRequest, instance_id: Any) -> HttpResponse:
    instance = _instance(instance_id)
    octopus_signin.enable(instance, request=request)
    messages.success(request, f"Sign-in through ODCM is being configured on {instance}.")
    return redirect("identity:sign-in-detail", instance_id=instance.pk)


@admin_only
@require_POST
def sign_in_check(request: HttpRequest, instance_id: Any) -> HttpResponse:
    row = get_object_or_404(OctopusSignIn, instance=_instance(instance_id))
    try:
        row = octopus_signin.verify(row, request=request)
    except octopus_signin.SignInError as exc:
        messages.error(request, str(exc))
    else:
        if row.state == OctopusSignIn.State.CONFIGURED:
            messages.success(request, "The instance's settings match.")
        else:
            messages.warning(request, row.last_error)
    return redirect("identity:sign-in-detail", instance_id=row.instance_id)


@admin_only
@require_POST
def sign_in_secret(request: HttpRequest, instance_id: Any) -> HttpResponse:
    instance = _instance(instance_id)
    row = get_object_or_404(OctopusSignIn, instance=instance)
    secret = octopus_signin.new_secret_to_paste(row, request=request)
    response = render(
        request,
        "identity/sign_in_detail.html",
        {
            "instance": instance,
            "row": row,
            "settings": octopus_signin.settings_to_paste(row),
            "new_secret": secret,
            "tab": "sign-in",
        },
    )
    response["Cache-Control"] = "no-store"
    return response


@admin_only
@require_POST
def sign_in_remove(request: HttpRequest, instance_id: Any) -> HttpResponse:
    row = get_object_or_404(OctopusSignIn, instance=_instance(instance_id))
    octopus_signin.disable(row, request=request)
    messages.success(request, "Sign-in through ODCM removed.")
    return redirect("identity:sign-in")
