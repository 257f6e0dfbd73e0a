"""Personal API tokens in the browser: list, create (shown once), revoke."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from identity.access import access_report, user_groups
from identity.forms import TokenForm
from identity.models import ApiToken
from identity.services.tokens import TokenError, create_token, revoke_token


@login_required
def tokens(request: HttpRequest) -> HttpResponse:
    form, new_token = token_form(request, request.user)
    owned = ApiToken.objects.filter(user=request.user.pk).prefetch_related(
        "instances", "spaces__instance"
    )
    response = render(
        request, "identity/tokens.html", {"form": form, "tokens": owned, "new_token": new_token}
    )
    response["Cache-Control"] = "no-store"  # the page may hold a token shown once
    return response


def token_form(request: HttpRequest, owner: Any) -> tuple[TokenForm, str | None]:
    """The new-token form for ``owner`` (the signed-in person, or a service account they
    manage) and, once a valid POST created one, the token's plaintext to show once."""
    form = TokenForm(request.POST or None, owner=owner)
    if request.method != "POST" or not form.is_valid():
        return form, None
    try:
        _token, plaintext = create_token(
            owner,
            name=form.cleaned_data["name"],
            expires_days=form.cleaned_data["expires_days"],
            read_only=form.cleaned_data["read_only"],
            areas=form.cleaned_data["areas"],
            instances=form.cleaned_data["instances"],
            spaces=form.cleaned_data["spaces"],
            actor=request.user,
            request=request,
        )
    except TokenError as exc:
        form.add_error("expires_days", str(exc))
        return form, None
    return TokenForm(owner=owner), plaintext


@login_required
@require_POST
def revoke(request: HttpRequest, token_id: str) -> HttpResponse:
    token = get_object_or_404(ApiToken, pk=token_id, user=request.user.pk)
    if revoke_token(token, request=request):
        messages.success(request, f"Token “{token.name}” revoked.")
    return redirect("identity:tokens")


@login_required
def my_access(request: HttpRequest) -> HttpResponse:
    """What I can access: every space I can see, with my role there."""
    context = {
        "report": access_report(request.user),
        "groups": list(user_groups(request.user).order_by("name")),
    }
    return render(request, "identity/my_access.html", context)
