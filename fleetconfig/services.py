"""Configuration as code: export, plan and apply a declared fleet (the command line, the API
and the Git poller all come here)."""

from __future__ import annotations

from typing import Any

import yaml
from django.db import transaction
from django.utils import timezone

from audit.services import record
from fleetconfig import plan as planner
from fleetconfig.apply import apply_changes
from fleetconfig.document import InvalidDocument, parse
from fleetconfig.models import Plan
from fleetconfig.state import export
from odcm.errors import ErrorKind, ServiceError

HEADER = "# ODCM fleet configuration (docs/config-as-code.md)\n"


class StalePlan(ServiceError):
    """The state changed since the plan was made: what was reviewed is no longer what would
    be applied."""

    default_code = "stale_plan"
    default_kind = ErrorKind.CONFLICT


class PlanNotApplicable(ServiceError):
    """The plan was applied already, or is invalid."""

    default_code = "conflict"
    default_kind = ErrorKind.CONFLICT


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump(doc: dict[str, Any]) -> str:
    return HEADER + yaml.dump(
        doc,
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=100,
    )


def export_text(only: set[str] | None = None) -> str:
    """The current configuration as YAML; two exports of one state are byte-identical."""
    return dump(export(only))


def make_plan(
    text: str | bytes,
    *,
    actor: Any = None,
    prune: bool = False,
    source: str = Plan.Source.API,
    git_source: Any = None,
    commit: str = "",
) -> Plan:
    """Plan a document and keep the plan (an invalid file makes an ``invalid`` plan whose
    ``issues`` list every error with its line)."""
    document = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    plan = Plan(
        source=source,
        git_source=git_source,
        commit=commit,
        prune=prune,
        document=document,
        created_by=actor if getattr(actor, "pk", None) else None,
    )
    try:
        doc = parse(text)
        result = planner.make(doc, prune=prune)
    except InvalidDocument as exc:
        plan.status = Plan.Status.INVALID
        plan.issues = [i.as_dict() for i in exc.issues]
    else:
        plan.sections = result.sections
        plan.changes = [c.as_dict() for c in result.changes]
        plan.state_digest = result.state_digest
    plan.save()
    record(
        "config.plan",
        actor=actor,
        obj=plan,
        after={
            "status": plan.status,
            "changes": plan.change_count,
            "source": source,
            "commit": commit,
        },
    )
    return plan


def apply_plan(plan: Plan, *, actor: Any = None) -> Plan:
    """Apply exactly what ``plan`` showed. Raises :class:`StalePlan` (the plan is then marked
    stale) if anything it covers changed since it was made."""
    claimed = Plan.objects.filter(pk=plan.pk, status=Plan.Status.PLANNED).update(
        status=Plan.Status.APPLYING
    )
    if not claimed:
        plan.refresh_from_db()
        raise PlanNotApplicable(f"This plan is {plan.get_status_display().lower()}.")
    if planner.state_digest(plan.sections) != plan.state_digest:
        Plan.objects.filter(pk=plan.pk).update(status=Plan.Status.STALE)
        plan.refresh_from_db()
        record("config.apply.refused", actor=actor, obj=plan, message="state changed")
        raise StalePlan("The configuration changed since this plan was made; plan again.")
    doc = parse(plan.document)
    changes = [
        planner.Change(**{k: c[k] for k in ("action", "kind", "key", "ident", "fields", "line")})
        for c in plan.changes
    ]
    outcomes = apply_changes(changes, doc.data, prune=plan.prune, actor=actor)
    failed = [o for o in outcomes if not o["ok"]]
    with transaction.atomic():
        plan.status = Plan.Status.PARTIAL if failed else Plan.Status.APPLIED
        plan.result = outcomes
        plan.applied_at = timezone.now()
        plan.applied_by = actor if getattr(actor, "pk", None) else None
        plan.save(update_fields=["status", "result", "applied_at", "applied_by"])
        record(
            "config.apply",
            actor=actor,
            obj=plan,
            after={
                "applied": len(outcomes) - len(failed),
                "failed": len(failed),
                "prune": plan.prune,
            },
        )
    return plan


def plan_and_apply(
    text: str | bytes, *, actor: Any = None, prune: bool = False, source: str = Plan.Source.CLI
) -> Plan:
    plan = make_plan(text, actor=actor, prune=prune, source=source)
    if plan.status == Plan.Status.INVALID:
        return plan
    return apply_plan(plan, actor=actor)
