"""Grant rules: a group's (or one person's) role on every instance carrying a tag, or in a
region, kept true as the fleet changes. A person's grant by tag or region, and an invitation's
once accepted, are rules for that person.

A rule owns the instance grants it made (``Grant.rule``). :func:`apply` compares them with the
instances the rule matches now: a match without an active grant gains one (through
:func:`identity.services.groups.grant`, so its teams are pushed as any grant's are), a grant
whose instance no longer matches is revoked. A grant chosen explicitly (no rule) is never
touched; an instance already granted explicitly is left to that grant, and a grant another
rule (same holder and role) still reaches is handed to it rather than revoked. A rule of a
deactivated person grants nothing new. ``apply`` is
idempotent and safe when two run at once (the active-grant unique constraint refuses a second
grant, and a revoke is a conditional update), so the registry's events and the periodic task
may both run it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction
from django.http import HttpRequest

from audit.services import record
from identity.models import Grant, GrantRule, Group, Role, User, instance_model, space_model
from identity.services.groups import GrantError, clean_scope, grant, revoke
from odcm import work


@dataclass
class Applied:
    """What one :func:`apply` changed: instance names granted and revoked, and those matched
    that hold the role already by a grant chosen explicitly (left to it)."""

    granted: list[str] = field(default_factory=list)
    revoked: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)


def matching_instances(rule: GrantRule) -> Any:
    """The instances ``rule`` reaches now (a queryset of the registry's Instance)."""
    Instance = instance_model()
    if rule.selector == GrantRule.Selector.TAG:
        return Instance.objects.filter(tags__name=rule.value).distinct()
    return Instance.objects.filter(region=rule.value)


def space_count(rule: GrantRule) -> int:
    """How many enlisted spaces the rule's instances hold now (what the page shows)."""
    return space_counts([rule])[rule.pk]


def space_counts(rules: list[GrantRule]) -> dict[Any, int]:
    """:func:`space_count` of each rule, by rule id, in two queries whatever their number."""
    Space = space_model()
    enlisted = Space.objects.filter(state=Space.State.ENLISTED)
    tags = {r.value for r in rules if r.selector == GrantRule.Selector.TAG}
    regions = {r.value for r in rules if r.selector == GrantRule.Selector.REGION}
    by_tag: dict[str, set[Any]] = {}
    by_region: dict[str, set[Any]] = {}
    if tags:
        rows = enlisted.filter(instance__tags__name__in=tags)
        for name, pk in rows.values_list("instance__tags__name", "pk"):
            by_tag.setdefault(name, set()).add(pk)
    if regions:
        for region, pk in enlisted.filter(instance__region__in=regions).values_list(
            "instance__region", "pk"
        ):
            by_region.setdefault(region, set()).add(pk)
    return {
        r.pk: len((by_tag if r.selector == GrantRule.Selector.TAG else by_region).get(r.value, ()))
        for r in rules
    }


def _holder(rule: GrantRule) -> dict[str, Any]:
    """The filter on grants (and rules) held by the rule's holder."""
    return {"group": rule.group_id} if rule.group_id else {"user": rule.user_id}


def create_rule(
    holder: Group | User,
    role: str,
    selector: str,
    value: str,
    *,
    scope: dict[str, list[str]] | None = None,
    actor: Any = None,
    request: HttpRequest | None = None,
) -> tuple[GrantRule, Applied]:
    """Give ``holder`` (a group, or one person) ``role`` on every instance tagged ``value``
    (``selector`` "tag") or in region ``value`` ("region"), now and as instances are tagged,
    moved or enlisted later."""
    person = holder if isinstance(holder, User) else None
    group = holder if isinstance(holder, Group) else None
    if person is not None and not person.is_active:
        raise GrantError(f"{person.username} is deactivated: grant them nothing.")
    name = person.username if person is not None else holder.name  # type: ignore[union-attr]
    if role not in Role.values:
        raise GrantError(f"Unknown role {role!r}.")
    if selector not in GrantRule.Selector.values:
        raise GrantError("A rule follows a tag or a region.")
    value = str(value).strip()
    if not value or len(value) > 100:
        raise GrantError("Name the tag or region (at most 100 characters).")
    cleaned = clean_scope(scope)
    try:
        with transaction.atomic():
            rule = GrantRule.objects.create(
                group=group,
                user=person,
                role=role,
                selector=selector,
                value=value,
                scope=cleaned,
                created_by=actor if getattr(actor, "pk", None) else None,
            )
            after = {"user" if person is not None else "group": name, "role": role,
                     "target": rule.label}  # fmt: skip
            record("grant_rule.create", actor=actor, request=request, obj=rule, after=after)
    except IntegrityError:
        label = rule_label(selector, value)
        raise GrantError(f"{name} already has this role on {label}.") from None
    return rule, apply(rule, actor=actor, request=request)


def rule_label(selector: str, value: str) -> str:
    return GrantRule(selector=selector, value=value).label


def _hand_over(rule: GrantRule, row: Grant) -> bool:
    """Give ``row`` to another rule of the same holder and role that still reaches its
    instance (the team stays as it is) rather than revoking it. True if one took it."""
    others = GrantRule.objects.filter(**_holder(rule), role=rule.role).exclude(pk=rule.pk)
    for other in others:
        if matching_instances(other).filter(pk=row.instance_id).exists():
            Grant.objects.filter(pk=row.pk).update(rule=other)
            return True
    return False


def delete_rule(
    rule: GrantRule, *, actor: Any = None, request: HttpRequest | None = None
) -> list[str]:
    """Delete the rule and revoke the grants it made (not those chosen explicitly). Returns
    the names of the instances whose grant was revoked."""
    revoked: list[str] = []
    with transaction.atomic():
        for row in rule.grants.filter(revoked_at__isnull=True).select_related("instance"):
            if not _hand_over(rule, row) and revoke(row, actor=actor, request=request):
                revoked.append(str(row.instance))
        record("grant_rule.delete", actor=actor, request=request, obj=rule,
               before={"user" if rule.user_id else "group": rule.holder_name, "role": rule.role,
                       "target": rule.label},
               message=f"revoked on {len(revoked)} instances")  # fmt: skip
        rule.delete()
    return revoked


def apply(rule: GrantRule, *, actor: Any = None, request: HttpRequest | None = None) -> Applied:
    """Make the rule's grants match the instances it reaches now (see the module)."""
    done = Applied()
    wanted = {i.pk: i for i in matching_instances(rule)}
    mine = list(rule.grants.filter(revoked_at__isnull=True).select_related("instance"))
    have = {g.instance_id for g in mine}
    taken = set(
        Grant.objects.filter(
            **_holder(rule), role=rule.role, instance__in=list(wanted), revoked_at__isnull=True
        ).values_list("instance_id", flat=True)
    )
    holder = rule.holder
    gains = not isinstance(holder, User) or holder.is_active  # a deactivated person: nothing
    for pk, instance in sorted(wanted.items(), key=lambda kv: kv[1].name):
        if pk in have or not gains:
            continue
        if pk in taken:
            done.kept.append(instance.name)
            continue
        try:
            grant(holder, rule.role, instance=instance, scope=rule.scope, actor=actor,
                  request=request, rule=rule)  # fmt: skip
        except GrantError:  # granted meanwhile (another run, or explicitly): nothing to do
            continue
        done.granted.append(instance.name)
    for row in mine:
        if row.instance_id in wanted or _hand_over(rule, row):
            continue
        if revoke(row, actor=actor, request=request):
            done.revoked.append(str(row.instance))
    if done.granted or done.revoked:
        record("grant_rule.apply", actor=actor, request=request, obj=rule,
               after={"granted": done.granted, "revoked": done.revoked})  # fmt: skip
    return done


def apply_all() -> int:
    """Apply every rule (periodic, and after an instance's tags, region or enlisting changed:
    any rule may gain or lose it). Returns how many grants changed."""
    changed = 0
    for rule in GrantRule.objects.select_related("group", "user"):
        done = apply(rule)
        changed += len(done.granted) + len(done.revoked)
    return changed


def on_fleet_changed() -> None:
    """Registry hook: an instance was enlisted, or its tags or region changed; apply every
    rule after the commit (identity never imports the registry)."""
    work.enqueue("identity.tasks.apply_grant_rules")
