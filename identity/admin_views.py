"""Access administration pages: users, groups, grants, role mapping, who-can-access views.

Administrators see all of it; a space's managers may also open "who can access this space".
Every change goes through identity.services (audited, pushed to Octopus after commit).
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Prefetch
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.views.decorators.http import require_POST

from identity import access, services
from identity.access import admin_only
from identity.forms import GrantForm, GroupForm, RoleMappingForm
from identity.models import Grant, GrantRule, Group, Role, User, space_model
from identity.services import grant_rules, teams
from odcm.redirects import redirect_next


@admin_only
def groups(request: HttpRequest) -> HttpResponse:
    form = GroupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            group = services.create_group(
                name=form.cleaned_data["name"],
                description=form.cleaned_data["description"],
                members=form.cleaned_data["members"],
                external_groups=form.external_list(),
                actor=request.user,
                request=request,
            )
        except services.GrantError as exc:
            form.add_error("name", str(exc))
        else:
            messages.success(request, f"Group “{group.name}” created.")
            return redirect("identity:group", group_id=group.pk)
    rows = Group.objects.prefetch_related(
        "members",
        "external_groups",
        Prefetch("grants", queryset=Grant.objects.filter(revoked_at__isnull=True)),
        "grant_rules",
    )
    return render(request, "identity/groups.html", {"groups": rows, "form": form})


def _grants_with_targets(viewer: Any, **filters: Any) -> list[Grant]:
    targets = access.visible_grant_targets(viewer).select_related("space", "space__instance")
    return list(
        Grant.objects.filter(**filters)
        .select_related("group", "user", "space", "space__instance", "instance", "rule")
        .prefetch_related(Prefetch("targets", queryset=targets))
        .order_by("revoked_at", "-created_at")
    )


@admin_only
def group(request: HttpRequest, group_id: str) -> HttpResponse:
    row = get_object_or_404(Group, pk=group_id)
    initial = {
        "name": row.name,
        "description": row.description,
        "members": list(row.members.all()),
        "external_groups": "\n".join(row.external_groups.values_list("value", flat=True)),
    }
    form = GroupForm(request.POST or None, initial=initial)
    grant_form = GrantForm(prefix="grant")
    if request.method == "POST" and form.is_valid():
        try:
            services.update_group(
                row,
                name=form.cleaned_data["name"],
                description=form.cleaned_data["description"],
                members=form.cleaned_data["members"],
                external_groups=form.external_list(),
                actor=request.user,
                request=request,
            )
        except services.GrantError as exc:
            form.add_error("name", str(exc))
        else:
            messages.success(request, "Group saved; its Octopus teams are being updated.")
            return redirect("identity:group", group_id=row.pk)
    context = {
        "group": row,
        "form": form,
        "grant_form": grant_form,
        "grants": _grants_with_targets(request.user, group=row),
        "rules": _rules_with_counts(row),
    }
    return render(request, "identity/group.html", context)


def _rules_with_counts(holder: Group | User) -> list[tuple[GrantRule, int]]:
    rules = list(holder.grant_rules.select_related("group", "user"))
    counts = grant_rules.space_counts(rules)
    return [(rule, counts[rule.pk]) for rule in rules]


@admin_only
@require_POST
def delete_group(request: HttpRequest, group_id: str) -> HttpResponse:
    row = get_object_or_404(Group, pk=group_id)
    try:
        services.delete_group(row, actor=request.user, request=request)
    except services.GrantError as exc:
        messages.error(request, str(exc))
        return redirect("identity:group", group_id=row.pk)
    messages.success(request, f"Group “{row.name}” deleted; its Octopus teams are being removed.")
    return redirect("identity:groups")


@admin_only
@require_POST
def add_grant(request: HttpRequest, group_id: str) -> HttpResponse:
    row = get_object_or_404(Group, pk=group_id)
    form = GrantForm(request.POST, prefix="grant")
    if form.is_valid() and form.selector():
        _add_rule(request, row, form)
    elif form.is_valid():
        try:
            services.grant(
                row,
                form.cleaned_data["role"],
                scope=form.scope(),
                actor=request.user,
                request=request,
                **form.target_kwargs(),
            )
        except services.GrantError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, "Granted; the Octopus team is being created.")
    else:
        messages.error(request, "Choose a role and a space or instance.")
    return redirect("identity:group", group_id=row.pk)


def _add_rule(request: HttpRequest, group: Group, form: GrantForm) -> None:
    """A tag or region: a rule that follows it (instances tagged or moved later too)."""
    selector, value = form.selector() or ("", "")
    try:
        rule, done = grant_rules.create_rule(
            group, form.cleaned_data["role"], selector, value, scope=form.scope(),
            actor=request.user, request=request,
        )  # fmt: skip
    except services.GrantError as exc:
        messages.error(request, str(exc))
        return
    count = grant_rules.space_count(rule)
    said = f"{group.name} now follows {rule.label} ({count} space{pluralize(count)} now)"
    if done.granted:
        said += f"; granted on {', '.join(done.granted)}"
    if done.kept:
        said += f"; {', '.join(done.kept)} already had this role (that grant stays as chosen)"
    if not done.granted and not done.kept:
        said += "; no instance matches now, those tagged or moved later will be granted"
    messages.success(request, said + ".")


@admin_only
@require_POST
def delete_grant_rule(request: HttpRequest, rule_id: str) -> HttpResponse:
    rule = get_object_or_404(GrantRule.objects.select_related("group", "user"), pk=rule_id)
    revoked = grant_rules.delete_rule(rule, actor=request.user, request=request)
    messages.success(
        request,
        f"Rule removed; revoked on {len(revoked)} instance{pluralize(len(revoked))} "
        "(grants chosen one by one stay).",
    )
    if rule.user_id:
        return redirect("identity:user", user_uuid=rule.user.uuid)  # type: ignore[union-attr]
    return redirect("identity:group", group_id=rule.group_id)


@login_required
@require_POST
def revoke_grant(request: HttpRequest, grant_id: str) -> HttpResponse:
    row = get_object_or_404(Grant.objects.select_related("space", "instance"), pk=grant_id)
    may = access.is_admin(request.user) or (
        row.space is not None and access.can_manage_space(request.user, row.space)
    )
    if not may:
        raise Http404
    if services.revoke(row, actor=request.user, request=request):
        messages.success(request, "Revoked; the Octopus team is being removed.")
    return redirect_next(request, "identity:groups")


@admin_only
def users(request: HttpRequest) -> HttpResponse:
    from django.db.models import Q

    rows = User.objects.prefetch_related("odcm_groups", "external_groups").order_by("username")
    typed = request.GET.get("q", "").replace("\x00", "").strip()[:150]
    if typed:
        rows = rows.filter(
            Q(username__icontains=typed)
            | Q(email__icontains=typed)
            | Q(first_name__icontains=typed)
            | Q(last_name__icontains=typed)
        )
    return render(request, "identity/users.html", {"users": rows, "q": typed})


@admin_only
def user(request: HttpRequest, user_uuid: str) -> HttpResponse:
    from identity.forms import PersonGrantForm
    from identity.services import sessions

    person = get_object_or_404(User, uuid=user_uuid)
    context = {
        "person": person,
        "groups": list(access.user_groups(person).order_by("name")),
        "external_groups": list(person.external_groups.all()),
        "report": access.access_report(person),
        "grants": _grants_with_targets(request.user, user=person),
        "rules": _rules_with_counts(person),
        "grant_form": PersonGrantForm(initial={"person": person.username}),
        "sessions": sessions.sessions_of(person),
        "tokens": list(person.api_tokens.order_by("-created_at")),
    }
    return render(request, "identity/user.html", context)


@login_required
def space(request: HttpRequest, space_id: str) -> HttpResponse:
    """Who can access this space (administrators and the space's managers)."""
    row = get_object_or_404(
        space_model().objects.filter(access.space_filter(request.user)).select_related("instance"),
        pk=space_id,
    )
    if not access.can_manage_space(request.user, row):
        raise Http404
    context = {
        "space": row,
        "who": access.who_can_access(row),
        "grants": _grants_with_targets(request.user, space=row)
        + _grants_with_targets(request.user, instance=row.instance),
    }
    return render(request, "identity/space.html", context)


@admin_only
def roles(request: HttpRequest) -> HttpResponse:
    mapping = teams.role_mapping()
    initial = {role: ", ".join(mapping.get(role, [])) for role in Role.values}
    form = RoleMappingForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        for role in Role.values:
            names = [n.strip() for n in form.cleaned_data[role].split(",")]
            services.set_role_mapping(role, names, actor=request.user, request=request)
        messages.success(request, "Role mapping saved; managed teams are being updated.")
        return redirect("identity:roles")
    return render(request, "identity/roles.html", {"form": form})


@admin_only
@require_POST
def deactivate_user(request: HttpRequest, user_uuid: str) -> HttpResponse:
    from identity.services import people

    person = get_object_or_404(User, uuid=user_uuid)
    try:
        people.deactivate(person, actor=request.user, request=request)
    except people.PeopleError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{person.username} is deactivated everywhere.")
    return redirect("identity:user", user_uuid=person.uuid)


@admin_only
@require_POST
def reset_mfa(request: HttpRequest, user_uuid: str) -> HttpResponse:
    from identity.services import people

    person = get_object_or_404(User, uuid=user_uuid)
    removed = people.reset_mfa(person, actor=request.user, request=request)
    messages.success(request, f"{removed} second factor(s) of {person.username} removed.")
    return redirect("identity:user", user_uuid=person.uuid)
