"""A plan as text for people (the command line and the Git page) and as JSON for machines."""

from __future__ import annotations

import json
from typing import Any

from fleetconfig.models import Plan

SIGNS = {"create": "+", "change": "~", "delete": "-", "unmanaged": "="}


def _value(value: Any) -> str:
    if isinstance(value, str):
        return value if value and len(value) < 80 and "\n" not in value else json.dumps(value)
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def counts(plan: Plan) -> dict[str, int]:
    out = {"create": 0, "change": 0, "delete": 0, "unmanaged": 0}
    for change in plan.changes:
        out[change["action"]] += 1
    return out


def text(plan: Plan) -> str:
    if plan.status == Plan.Status.INVALID:
        lines = [f"The file is not valid ({len(plan.issues)} errors):"]
        for issue in plan.issues:
            where = f"line {issue['line']}" if issue["line"] else "file"
            path = f"{issue['path']}: " if issue["path"] else ""
            lines.append(f"  {where}: {path}{issue['message']}")
        return "\n".join(lines) + "\n"
    lines = []
    for change in plan.changes:
        where = f" (line {change['line']})" if change.get("line") else ""
        note = ""
        if change["action"] == "unmanaged":
            note = " — not in the file, not created by an apply: left alone"
        elif change["action"] == "delete" and not plan.prune:
            note = " — only with --prune"
        lines.append(
            f"{SIGNS[change['action']]} {change['action']} {change['kind']} "
            f"{change['key']}{where}{note}"
        )
        for row in change["fields"]:
            if change["action"] == "create":
                lines.append(f"    {row['field']}: {_value(row['after'])}")
            else:
                lines.append(
                    f"    {row['field']}: {_value(row['before'])} -> {_value(row['after'])}"
                )
    c = counts(plan)
    lines.append(
        f"Plan: {c['create']} to create, {c['change']} to change, {c['delete']} to delete"
        f"{'' if plan.prune else ' (with --prune)'}; {c['unmanaged']} unmanaged."
        if plan.changes
        else "No changes: ODCM matches the file."
    )
    return "\n".join(lines) + "\n"


def as_json(plan: Plan) -> dict[str, Any]:
    return {
        "id": str(plan.id),
        "status": plan.status,
        "prune": plan.prune,
        "sections": plan.sections,
        "counts": counts(plan),
        "changes": plan.changes,
        "errors": plan.issues,
        "result": plan.result,
        "commit": plan.commit,
        "created_at": plan.created_at.isoformat() if plan.created_at else None,
        "applied_at": plan.applied_at.isoformat() if plan.applied_at else None,
    }
