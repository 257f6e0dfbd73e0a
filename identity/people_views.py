"""People administration pages: create a person, grant to one person (with a searchable
picker; by tag or region, a rule for them), a person's ODCM sessions (end one) and API tokens
(revoke one).

Administrators only: to anyone else these pages do not exist. Every change goes through
identity.services (audited).
"""

from __future__ import annotations

from django.contrib import messages
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from identity import services
from identity.access import admin_only
from identity.forms import PersonForm, PersonGrantForm
from identity.models import ApiToken, User
from identity.services import grant_rules, people, sessions


@admin_only
def people_search(request: HttpRequest) -> HttpResponse:
    """The picker's suggestions: up to 20 active people matching what was typed."""
    typed = (request.GET.get("person") or request.GET.get("q") or "").replace("\x00", "")
    typed = typed.strip()[:150]
    rows = User.objects.none()
    if typed:
        rows = (
            User.objects.filter(is_active=True)
            .filter(
                Q(username__icontains=typed)
                | Q(email__icontains=typed)
                | Q(first_name__icontains=typed)
                | Q(last_name__icontains=typed)
            )
            .order_by("username")[:20]
        )
    return render(request, "identity/_people_options.html", {"people": rows})


@admin_only
def grant_person(request: HttpRequest) -> HttpResponse:
    """Give one person a role on a space, an instance, or instances by tag or region (a rule
    for them: instances tagged, moved or enlisted later follow)."""
    form = PersonGrantForm(request.POST or None, initial={"person": request.GET.get("person")})
    if request.method == "POST" and form.is_valid():
        person = form.cleaned_data["person"]
        if form.selector():
            if _add_rule(request, person, form):
                return redirect("identity:user", user_uuid=person.uuid)
        else:
            try:
                services.grant(
                    person,
                    form.cleaned_data["role"],
                    scope=form.scope(),
                    actor=request.user,
                    request=request,
                    **form.target_kwargs(),
                )
            except services.GrantError as exc:
                messages.error(request, str(exc))
            else:
                messages.success(
                    request, f"Granted to {person.username}; the Octopus team is being created."
                )
                return redirect("identity:user", user_uuid=person.uuid)
    return render(request, "identity/grant_person.html", {"form": form})


def _add_rule(request: HttpRequest, person: User, form: PersonGrantForm) -> bool:
    selector, value = form.selector() or ("", "")
    try:
        rule, done = grant_rules.create_rule(
            person, form.cleaned_data["role"], selector, value, scope=form.scope(),
            actor=request.user, request=request,
        )  # fmt: skip
    except services.GrantError as exc:
        messages.error(request, str(exc))
        return False
    said = f"{person.username} now follows {rule.label}"
    if done.granted:
        said += f"; granted on {', '.join(done.granted)}"
    if done.kept:
        said += f"; {', '.join(done.kept)} already had this role (that grant stays as chosen)"
    if not done.granted and not done.kept:
        said += "; no instance matches now, those tagged or moved later will be granted"
    messages.success(request, said + ".")
    return True


@admin_only
def create_person(request: HttpRequest) -> HttpResponse:
    form = PersonForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            person = people.create_person(**form.cleaned_data, actor=request.user, request=request)
        except people.PeopleError as exc:
            for field, texts in (exc.errors or {}).items():  # type: ignore[union-attr]
                for text in texts:
                    form.add_error(field if field in form.fields else None, text)
        else:
            messages.success(request, f"{person.username} created.")
            return redirect("identity:user", user_uuid=person.uuid)
    return render(request, "identity/person_new.html", {"form": form})


@admin_only
@require_POST
def end_session(request: HttpRequest, user_uuid: str, ref: str) -> HttpResponse:
    person = get_object_or_404(User, uuid=user_uuid)
    if sessions.end_session(person, ref, actor=request.user, request=request):
        messages.success(request, f"That session of {person.username} is ended.")
    else:
        messages.info(request, "That session had already ended.")
    return redirect("identity:user", user_uuid=person.uuid)


@admin_only
@require_POST
def revoke_token(request: HttpRequest, user_uuid: str, token_id: str) -> HttpResponse:
    person = get_object_or_404(User, uuid=user_uuid)
    token = get_object_or_404(ApiToken, pk=token_id, user=person)
    if services.revoke_token(token, actor=request.user, request=request):
        messages.success(request, f"Token “{token.name}” revoked.")
    return redirect("identity:user", user_uuid=person.uuid)
