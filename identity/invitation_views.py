"""Invitation pages: administrators invite outside people (list, invite, resend, withdraw);
the invited person opens the link, signs in with the named provider and accepts."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from identity.access import admin_only
from identity.forms import InvitationForm
from identity.models import Invitation
from identity.services import invitations


@admin_only
def invitation_list(request: HttpRequest) -> HttpResponse:
    known = invitations.providers(request)
    form = InvitationForm(request.POST or None, providers=known, prefix="invite")
    if request.method == "POST" and form.is_valid():
        try:
            row, _ = invitations.create(
                email=form.cleaned_data["email"],
                provider=form.cleaned_data["provider"],
                days=form.cleaned_data["days"],
                message=form.cleaned_data["message"],
                grants=form.invitation_grants(),
                actor=request.user,
                request=request,
            )
        except invitations.InvitationError as exc:
            form.add_error(None, str(exc))
        else:
            row.refresh_from_db()
            if row.sent_at:
                messages.success(request, f"Invitation sent to {row.email}.")
            else:
                messages.error(request, f"The invitation could not be emailed: {row.send_error}")
            return redirect("identity:invitations")
    rows = Invitation.objects.select_related("created_by", "accepted_by")[:200]
    context = {"form": form, "invitations": rows, "providers": known}
    return render(request, "identity/invitations.html", context)


@admin_only
@require_POST
def invitation_act(request: HttpRequest, invitation_id: str, verb: str) -> HttpResponse:
    row = get_object_or_404(Invitation, pk=invitation_id)
    if verb == "revoke":
        if invitations.revoke(row, actor=request.user, request=request):
            messages.success(request, f"The invitation of {row.email} is withdrawn.")
    elif verb == "resend":
        try:
            sent = invitations.resend(row, actor=request.user, request=request)
        except invitations.InvitationError as exc:
            messages.error(request, str(exc))
        else:
            if sent:
                messages.success(request, f"A new link was sent to {row.email}.")
            else:
                messages.error(request, "The invitation could not be emailed.")
    else:
        return HttpResponse(status=404)
    return redirect("identity:invitations")


def invitation(request: HttpRequest, token: str) -> HttpResponse:
    """The link in the email: who invites, and the button to sign in with the provider."""
    try:
        row = invitations.open_link(request, token)
    except invitations.InvitationError as exc:
        return render(request, "identity/invitation.html", {"problem": str(exc)}, status=410)
    from allauth.socialaccount.adapter import get_adapter

    provider = get_adapter().get_provider(request, row.provider)
    context = {"invitation": row, "provider": provider, "token": token}
    return render(request, "identity/invitation.html", context)


@login_required
def accept_invitation(request: HttpRequest, token: str) -> HttpResponse:
    """Where the provider's sign-in comes back to: accept, or say why not."""
    try:
        invitations.accept(request, token)
    except invitations.InvitationError as exc:
        return render(request, "identity/invitation.html", {"problem": str(exc)}, status=403)
    messages.success(request, "Welcome to ODCM: your invitation is accepted.")
    return redirect("identity:my-access")
