"""Service accounts in the browser: the ones you manage (administrators: all; others: those
their groups own), creating one, and its tokens (created with scopes, shown once, revoked).
Every write goes through identity.services (audited)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from identity.forms import ServiceAccountForm
from identity.models import ApiToken, ServiceAccount
from identity.services import service_accounts
from identity.services.tokens import revoke_token
from identity.views import token_form


def _managed(request: HttpRequest, account_id: str) -> ServiceAccount:
    # One 404 for "no such account" and "not yours": nothing tells the two apart.
    return get_object_or_404(service_accounts.manageable_by(request.user), pk=account_id)


@login_required
def service_account_list(request: HttpRequest) -> HttpResponse:
    form = ServiceAccountForm(request.POST or None, actor=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            account = service_accounts.create_service_account(
                name=form.cleaned_data["name"],
                owner=form.cleaned_data["owner"],
                description=form.cleaned_data["description"],
                actor=request.user,
                request=request,
            )
        except service_accounts.ServiceAccountError as exc:
            form.add_error("name", str(exc))
        else:
            messages.success(request, f"Service account “{account.user.username}” created.")
            return redirect("identity:service-account", account_id=account.pk)
    rows = service_accounts.manageable_by(request.user).order_by("user__username")
    can_create = form.fields["owner"].queryset.exists()  # type: ignore[attr-defined]
    context = {"accounts": rows, "form": form, "can_create": can_create}
    return render(request, "identity/service_accounts.html", context)


@login_required
def service_account(request: HttpRequest, account_id: str) -> HttpResponse:
    account = _managed(request, account_id)
    form, new_token = token_form(request, account.user)
    rows = ApiToken.objects.filter(user=account.user).prefetch_related(
        "instances", "spaces__instance"
    )
    context = {"account": account, "form": form, "tokens": rows, "new_token": new_token}
    response = render(request, "identity/service_account.html", context)
    response["Cache-Control"] = "no-store"  # the page may hold a token shown once
    return response


@login_required
@require_POST
def revoke_service_token(request: HttpRequest, account_id: str, token_id: str) -> HttpResponse:
    account = _managed(request, account_id)
    token = get_object_or_404(ApiToken, pk=token_id, user=account.user)
    if revoke_token(token, actor=request.user, request=request):
        messages.success(request, f"Token “{token.name}” revoked.")
    return redirect("identity:service-account", account_id=account.pk)
