"""Applying a plan through the same services the pages and the API use (so validation, audit,
Celery work and access rules are theirs). Each object is applied in its own transaction: a
failure part-way leaves what was applied consistent, is reported with its object, and a rerun
of the same file finishes the job (the plan then holds only what is left)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.db import transaction

from fleetconfig import apply_accounts
from fleetconfig.apply_base import ApplyError
from fleetconfig.apply_base import Source as _Source
from fleetconfig.apply_base import after as _after
from fleetconfig.apply_base import changed as _changed
from fleetconfig.apply_base import instance as _instance
from fleetconfig.apply_base import remember as _remember
from fleetconfig.apply_base import space as _space
from fleetconfig.apply_base import users as _users
from fleetconfig.plan import Change, resolve
from fleetconfig.state import ALERT_FLAGS, normal_variables, variable_identity
from identity import services as identity
from identity.models import Grant, GrantRule, Group, User
from identity.services import grant_rules
from monitoring.models import MaintenanceWindow
from monitoring.services import configuration as monitoring
from odcm.errors import ServiceError
from sharing.models import SharedItem, Subscription, Trust
from sharing.services import items as sharing_items
from sharing.services import subscriptions as sharing_subs
from sharing.services import trusts as sharing_trusts
from spaces.models import Instance, Space
from spaces.services import instances as registry
from spaces.services.octopus_spaces import set_enlisted, set_standard_environments

log = logging.getLogger(__name__)


def apply_changes(
    changes: list[Change], document: dict[str, Any], *, prune: bool, actor: Any
) -> list[dict[str, Any]]:
    """Apply ``changes`` (in plan order); returns one outcome per change."""
    source = _Source(document)
    outcomes = []
    for change in changes:
        if change.action == "unmanaged" or (change.action == "delete" and not prune):
            continue
        try:
            HANDLERS[change.kind](change, source, actor)
            outcomes.append(
                {
                    "key": change.key,
                    "kind": change.kind,
                    "action": change.action,
                    "ok": True,
                    "error": "",
                }
            )
        except Exception as exc:  # one object's failure never stops the others
            message = _message(exc)
            log.warning("configuration apply: %s %s failed: %s", change.kind, change.key, message)
            outcomes.append(
                {
                    "key": change.key,
                    "kind": change.kind,
                    "action": change.action,
                    "ok": False,
                    "error": message,
                }
            )
    return outcomes


def _message(exc: BaseException) -> str:
    if isinstance(exc, ServiceError) and not isinstance(exc, registry.RegistryError):
        return "; ".join(exc.problems)  # identity's refusals (service accounts, invitations)
    if isinstance(exc, (ApplyError, ValueError, registry.RegistryError)):
        messages = getattr(exc, "errors", None)
        return "; ".join(map(str, messages)) if messages else str(exc)
    return f"Unexpected error ({type(exc).__name__}); see the server log."


# -- handlers ----------------------------------------------------------------------------


def _standard_environments(change: Change, source: _Source, actor: Any) -> None:
    set_standard_environments(list(_after(change, "names")), actor=actor)


def _role_mapping(change: Change, source: _Source, actor: Any) -> None:
    identity.set_role_mapping(
        change.ident["role"], list(_after(change, "octopus_roles")), actor=actor
    )


def _instance_handler(change: Change, source: _Source, actor: Any) -> None:
    if change.action == "delete":
        inst = Instance.objects.filter(name=change.ident["name"]).first()
        if inst is not None:
            registry.unenlist_instance(inst, actor=actor)
        _remember(change, forget=True)
        return
    decl = source.instances[change.ident["name"]]
    key_ref = decl["api_key"]
    if change.action == "create":
        inst = registry.enlist_instance(
            name=decl["name"],
            base_url=decl["url"],
            api_key=resolve(key_ref),
            region=decl.get("region", ""),
            description=decl.get("description", ""),
            tags=decl.get("tags") or [],
            actor=actor,
        )
        _remember(change, created=True, refs={"api_key": key_ref})
    else:
        inst = _instance(decl["name"])
        if _changed(change, "url"):
            raise ApplyError(
                "An instance's URL is not changed by configuration: un-enlist it and enlist "
                "the server at its new URL (its key is then checked against the new host)."
            )
        if _changed(change, "api_key_fingerprint") or _changed(change, "api_key"):
            if _changed(change, "api_key_fingerprint"):
                registry.rotate_api_key(inst, resolve(key_ref), actor=actor)
            _remember(change, refs={"api_key": key_ref})
    fields = {
        k: decl.get(k, d)
        for k, d in (("region", ""), ("description", ""), ("enlist_new_spaces", True))
    }
    if change.action == "create" or any(_changed(change, k) for k in (*fields, "tags", "owners")):
        registry.update_instance(
            inst,
            actor=actor,
            tags=decl.get("tags") or [],
            owners=_users(decl.get("owners") or []),
            **fields,
        )
    if _changed(change, "version_pin"):
        monitoring.pin_version(inst, decl.get("version_pin", ""), actor=actor)
    if _changed(change, "maintenance_windows"):
        _windows(inst, decl.get("maintenance_windows") or [], actor)
    if change.action == "create":
        _spaces_of_new_instance(inst, decl, actor)


def _windows(inst: Instance, declared: list[dict[str, Any]], actor: Any) -> None:
    from django.utils import timezone

    wanted = {(_dt(w["starts_at"]), _dt(w["ends_at"]), w.get("reason", "")) for w in declared}
    current = MaintenanceWindow.objects.filter(instance=inst, ends_at__gt=timezone.now())
    have = {(w.starts_at, w.ends_at, w.reason): w for w in current}
    for key, window in have.items():
        if key not in wanted:
            monitoring.end_window(window, actor=actor)
    for starts, ends, reason in sorted(wanted - set(have)):
        monitoring.schedule_window(inst, starts, ends, reason, actor=actor)


def _dt(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise ApplyError(f"{text} has no time zone (end it with Z for UTC).")
    return value


def _spaces_of_new_instance(inst: Instance, decl: dict[str, Any], actor: Any) -> None:
    for space in decl.get("spaces") or []:
        row = Space.objects.filter(instance=inst, name=space["name"]).first()
        if row is not None:
            set_enlisted(row, space["enlisted"], actor=actor)


def _space_handler(change: Change, source: _Source, actor: Any) -> None:
    space = _space(change.ident["instance"], change.ident["space"])
    set_enlisted(space, bool(_after(change, "enlisted")), actor=actor)


def _group(change: Change, source: _Source, actor: Any) -> None:
    if change.action == "delete":
        group = Group.objects.filter(name=change.ident["name"]).first()
        if group is not None:
            identity.delete_group(group, actor=actor)
        _remember(change, forget=True)
        return
    fields = {
        "description": _after(change, "description", ""),
        "members": apply_accounts.members(_after(change, "members", []), source),
        "external_groups": _after(change, "external_groups", []),
    }
    if change.action == "create":
        identity.create_group(name=change.ident["name"], actor=actor, **fields)
        _remember(change, created=True)
        return
    group = Group.objects.get(name=change.ident["name"])
    changed = {k: v for k, v in fields.items() if _changed(change, k)}
    identity.update_group(group, actor=actor, **changed)


def _holder(ident: dict[str, Any]) -> tuple[Group | User, dict[str, Any]]:
    """The group or the one person a grant or rule is for, and its filter."""
    if "user" in ident:
        person = _users([ident["user"]])[0]
        return person, {"user": person}
    group = Group.objects.filter(name=ident["group"]).first()
    if group is None:
        raise ApplyError(f"No group named {ident['group']!r}.")
    return group, {"group": group}


def _grant(change: Change, source: _Source, actor: Any) -> None:
    """A group's grant or one person's; a changed scope replaces the grant (revoke, grant)."""
    ident = change.ident
    holder, mine = _holder(ident)
    role = ident["role"]
    if ident.get("space"):
        where: dict[str, Any] = {"space": _space(ident["instance"], ident["space"])}
    else:
        where = {"instance": _instance(ident["instance"])}
    current = Grant.objects.filter(
        role=role, revoked_at__isnull=True, rule__isnull=True, **mine, **where
    )
    if change.action == "delete":
        for row in current:
            identity.revoke(row, actor=actor)
        _remember(change, forget=True)
        return
    with transaction.atomic():
        if change.action == "change":
            for row in current:
                identity.revoke(row, actor=actor)
        identity.grant(holder, role, scope=source.scope(change), actor=actor, **where)
    _remember(change, created=change.action == "create" or None)


def _grant_rule(change: Change, source: _Source, actor: Any) -> None:
    """A group's or one person's grant rule; a changed scope replaces the rule (its grants
    follow)."""
    ident = change.ident
    holder, mine = _holder(ident)
    current = GrantRule.objects.filter(
        **mine, role=ident["role"], selector=ident["selector"], value=ident["value"]
    )
    with transaction.atomic():
        if change.action in ("delete", "change"):
            for rule in current:
                grant_rules.delete_rule(rule, actor=actor)
        if change.action == "delete":
            _remember(change, forget=True)
            return
        grant_rules.create_rule(
            holder,
            ident["role"],
            ident["selector"],
            ident["value"],
            scope=source.scope(change),
            actor=actor,
        )
    _remember(change, created=change.action == "create" or None)


def _trust(change: Change, source: _Source, actor: Any) -> None:
    p, s = change.ident["publisher"], change.ident["subscriber"]
    publisher, subscriber = _space(p["instance"], p["space"]), _space(s["instance"], s["space"])
    if change.action == "delete":
        trust = Trust.objects.filter(publisher=publisher, subscriber=subscriber).first()
        if trust is not None:
            sharing_trusts.revoke(trust, actor=actor)
        _remember(change, forget=True)
        return
    with transaction.atomic():
        trust = sharing_trusts.propose(publisher, subscriber, actor=actor)
        sharing_trusts.accept(trust, actor=actor)
    _remember(change, created=True)


def _shared_item(change: Change, source: _Source, actor: Any) -> None:
    ident = change.ident
    p = ident["publisher"]
    if change.action == "delete":
        raise ApplyError(
            "Shared items are not deleted by configuration; pause or unpublish them on their page."
        )
    decl = source.items[(p["instance"], p["space"], ident["kind"], ident["name"])]
    fields = {
        "description": decl.get("description", ""),
        "policy": decl.get("policy", SharedItem.Policy.PUSH),
    }
    publisher = _space(p["instance"], p["space"])
    refs: dict[str, Any] = {}
    content = decl["content"]
    if ident["kind"] == SharedItem.Kind.VARIABLE_SET:
        variables = []
        for var in normal_variables(content.get("variables") or []):
            if var["type"] == "Sensitive" and isinstance(var["value"], dict):
                refs[variable_identity(var)] = var["value"]
                var = {**var, "value": resolve(var["value"])}
            variables.append(var)
        content = {"variables": variables}
    with transaction.atomic():
        if change.action == "create":
            item = sharing_items.create_item(
                publisher, ident["kind"], ident["name"], actor=actor, **fields
            )
        else:
            item = SharedItem.objects.get(
                publisher=publisher, kind=ident["kind"], name=ident["name"]
            )
            changed = {k: v for k, v in fields.items() if getattr(item, k) != v}
            if changed:
                sharing_items.update_item(item, actor=actor, **changed)
        if (
            change.action == "create"
            or _changed(change, "content")
            or _changed(change, "sensitive_values")
        ):
            sharing_items.save_revision(
                item, content, actor=actor, comment="Applied from configuration"
            )
        if item.paused != bool(decl.get("paused", False)):
            sharing_items.update_item(item, actor=actor, paused=bool(decl.get("paused", False)))
    _remember(change, created=change.action == "create", refs={"secrets": refs})


def _subscription(change: Change, source: _Source, actor: Any) -> None:
    ident = change.ident
    p = ident["item"]["publisher"]
    item = SharedItem.objects.filter(
        publisher=_space(p["instance"], p["space"]),
        kind=ident["item"]["kind"],
        name=ident["item"]["name"],
    ).first()
    if item is None:
        raise ApplyError(f"No shared item {ident['item']['name']!r}.")
    space = _space(ident["instance"], ident["space"])
    sub = (
        Subscription.objects.filter(item=item, space=space)
        .exclude(status=Subscription.Status.UNMANAGED)
        .first()
    )
    if change.action == "delete":
        if sub is not None:
            sharing_subs.unsubscribe(sub, actor=actor)
        _remember(change, forget=True)
        return
    mode = _after(change, "mode", Subscription.Mode.AUTOMATIC)
    pinned = _after(change, "pinned_revision")
    if sub is None:
        sharing_subs.subscribe(item, space, mode=mode, pinned_revision=pinned, actor=actor)
        _remember(change, created=True)
    else:
        sharing_subs.change(
            sub,
            mode=mode if _changed(change, "mode") else None,
            pinned_revision=pinned if _changed(change, "pinned_revision") else "keep",
            actor=actor,
        )


def _alert_settings(change: Change, source: _Source, actor: Any) -> None:
    user = _users([change.ident["user"]])[0]
    if change.action == "delete":
        monitoring.save_alert_settings(user, flags={}, instances=[], actor=actor)
        _remember(change, forget=True)
        return
    flags = {
        flag: bool(_after(change, flag))
        for flag in ALERT_FLAGS
        if change.action == "create" or _changed(change, flag)
    }
    instances = None
    if change.action == "create" or _changed(change, "instances"):
        names = _after(change, "instances", [])
        instances = list(Instance.objects.filter(name__in=names))
    monitoring.save_alert_settings(user, flags=flags, instances=instances, actor=actor)
    _remember(change, created=change.action == "create")


HANDLERS: dict[str, Callable[[Change, _Source, Any], None]] = {
    "standard_environments": _standard_environments,
    "role_mapping": _role_mapping,
    "instance": _instance_handler,
    "space": _space_handler,
    "group": _group,
    "grant": _grant,
    "grant_rule": _grant_rule,
    "person_grant": _grant,
    "person_grant_rule": _grant_rule,
    "trust": _trust,
    "shared_item": _shared_item,
    "subscription": _subscription,
    "alert_settings": _alert_settings,
    "service_account": apply_accounts.service_account,
    "invitation": apply_accounts.invitation,
}
