"""The grants part of the export: groups with their grants and grant rules, and people with
grants of their own (split from ``state``, which flattens both sides of a plan)."""

from __future__ import annotations

from typing import Any

from identity.models import Grant, GrantRule, Group


def normal_scope(scope: Any) -> dict[str, list[str]]:
    """One written form of a grant's scope: keys sorted, names trimmed and sorted, empty lists
    left out (as ``identity.services.clean_scope`` stores them)."""
    out = {}
    for key in sorted(scope or {}):
        names = sorted({str(n).strip() for n in scope[key] or [] if str(n).strip()})
        if names:
            out[key] = names
    return out


def _grant_entry(g: Grant) -> dict[str, Any]:
    inst = g.space.instance if g.space is not None else g.instance
    assert inst is not None
    entry: dict[str, Any] = {"role": g.role, "instance": inst.name}
    if g.space is not None:
        entry["space"] = g.space.name
    if normal_scope(g.scope):
        entry["scope"] = normal_scope(g.scope)
    return entry


def _grant_order(g: dict[str, Any]) -> tuple[str, str, str]:
    return (g["role"], g["instance"], g.get("space", ""))


def _active_grants() -> Any:
    # A grant a rule made is declared by its rule (grant_rules), not one by one.
    return Grant.objects.filter(revoked_at__isnull=True, rule__isnull=True).select_related(
        "space__instance", "instance", "user"
    )


def groups(refs: Any) -> list[dict[str, Any]]:
    grants: dict[Any, list[dict[str, Any]]] = {}
    for g in _active_grants().filter(group__isnull=False):
        grants.setdefault(g.group_id, []).append(_grant_entry(g))
    rules: dict[Any, list[dict[str, Any]]] = {}
    for rule in GrantRule.objects.filter(group__isnull=False):
        rules.setdefault(rule.group_id, []).append(_rule_entry(rule))
    out = []
    for group in Group.objects.order_by("name").prefetch_related("members", "external_groups"):
        entry: dict[str, Any] = {"name": group.name}
        if group.description:
            entry["description"] = group.description
        entry["external_groups"] = sorted(e.value for e in group.external_groups.all())
        entry["members"] = sorted(u.username for u in group.members.all())
        entry["grants"] = sorted(grants.get(group.pk, []), key=_grant_order)
        if rules.get(group.pk):
            entry["grant_rules"] = sorted(rules[group.pk], key=rule_key)
        out.append(entry)
    return out


def _rule_entry(rule: GrantRule) -> dict[str, Any]:
    row: dict[str, Any] = {"role": rule.role, rule.selector: rule.value}
    if normal_scope(rule.scope):
        row["scope"] = normal_scope(rule.scope)
    return row


def rule_key(rule: dict[str, Any]) -> str:
    """A grant rule's name in a plan: "deployer on every instance tagged prod"."""
    if rule.get("tag") is not None:
        return f"{rule['role']} on every instance tagged {rule['tag']}"
    return f"{rule['role']} on every instance in region {rule['region']}"


def people(refs: Any) -> list[dict[str, Any]]:
    """People holding grants or grant rules of their own (people are not declared: they sign
    in)."""
    grants: dict[str, list[dict[str, Any]]] = {}
    for g in _active_grants().filter(user__isnull=False):
        assert g.user is not None
        grants.setdefault(g.user.username, []).append(_grant_entry(g))
    rules: dict[str, list[dict[str, Any]]] = {}
    for rule in GrantRule.objects.filter(user__isnull=False).select_related("user"):
        assert rule.user is not None
        rules.setdefault(rule.user.username, []).append(_rule_entry(rule))
    out = []
    for name in sorted({*grants, *rules}):
        entry: dict[str, Any] = {
            "user": name,
            "grants": sorted(grants.get(name, []), key=_grant_order),
        }
        if rules.get(name):
            entry["grant_rules"] = sorted(rules[name], key=rule_key)
        out.append(entry)
    return out
