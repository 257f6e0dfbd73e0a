"""Customer actions beside the page in split_views: rotate the facade's key, remove the
customer. Views call managed.services, never tasks."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_POST

from managed import access
from managed.models import Customer
from managed.services import customers
from managed.services.facades import CustomerError


def _editable(request: HttpRequest, pk: Any) -> Customer:
    row = get_object_or_404(
        access.visible_customers(request.user).select_related("management_space__instance"),
        pk=pk,
    )
    if not access.can_manage_space_of(request.user, row):
        raise PermissionDenied
    return row


@login_required
@require_POST
def customer_rotate(request: HttpRequest, pk: Any) -> HttpResponse:
    row = _editable(request, pk)
    if customers.rotate_key(row, actor=request.user):
        messages.success(
            request, "A new key is being made; the old one is deleted once it is delivered."
        )
    else:
        messages.info(request, "A sync is running now; the key is rotated at the next one.")
    return redirect("managed:customer", pk=row.pk)


@login_required
@require_POST
def customer_remove(request: HttpRequest, pk: Any) -> HttpResponse:
    row = _editable(request, pk)
    name = row.name
    try:
        customers.remove_customer(row, actor=request.user)
    except CustomerError as exc:
        messages.error(request, str(exc))
        return redirect("managed:customer", pk=row.pk)
    messages.success(
        request,
        f"{name} removed with its service account; its facade space and tenant are kept.",
    )
    return redirect("managed:customers")
