"""Compare two releases (any two, including a source release and its imported copy): the
process step by step and the variables by name and environment names. Sensitive values are
never shown: Octopus returns none, so a sensitive variable compares as present or missing."""

from __future__ import annotations

from typing import Any

from octopus.errors import OctopusError
from odcm.clients import client_for
from spaces.models import Space

from ..errors import PromotionError


def _snapshot(space: Space, release_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    try:
        with client_for(space.instance) as client:
            release = client.release(space.octopus_id, release_id)
            snaps = client.release_snapshots(space.octopus_id, release)
    except OctopusError as exc:
        raise PromotionError(f"Reading release {release_id} failed: {exc}") from None
    steps: dict[str, Any] = {}
    for step in snaps.deployment_process.get("Steps") or []:
        for action in step.get("Actions") or []:
            steps[f"{step.get('Name')} / {action.get('Name')}"] = {
                "type": action.get("ActionType"),
                "properties": action.get("Properties") or {},
                "packages": sorted(str(p.get("PackageId")) for p in action.get("Packages") or []),
                "disabled": bool(action.get("IsDisabled")),
            }
    variables: dict[str, Any] = {}
    for doc in [snaps.project_variables, *snaps.library_variables]:
        envs = {
            e["Id"]: e["Name"] for e in (doc.get("ScopeValues") or {}).get("Environments") or []
        }
        for var in doc.get("Variables") or []:
            scope = ", ".join(
                sorted(envs.get(e, e) for e in (var.get("Scope") or {}).get("Environment") or [])
            )
            # An imported copy's environments drop the remote prefix; compare by the plain name.
            key = f"{var['Name']} [{scope.split(': ')[-1]}]"
            variables[key] = "(sensitive)" if var.get("IsSensitive") else var.get("Value")
    return {"version": release.get("Version")} | {"steps": steps}, variables


def compare(space_a: Space, release_a: str, space_b: Space, release_b: str) -> dict[str, Any]:
    """{"steps": [...], "variables": [...]}: each row a name, the two sides and a verdict
    (same, changed, only in A, only in B)."""
    left, left_vars = _snapshot(space_a, release_a)
    right, right_vars = _snapshot(space_b, release_b)

    def rows(a: dict[str, Any], b: dict[str, Any], secret: bool) -> list[dict[str, Any]]:
        out = []
        for name in sorted(set(a) | set(b)):
            if name not in b:
                verdict = "only in A"
            elif name not in a:
                verdict = "only in B"
            else:
                verdict = "same" if a[name] == b[name] else "changed"
            out.append({"name": name, "a": a.get(name), "b": b.get(name), "verdict": verdict})
        return out

    return {
        "a": left["version"],
        "b": right["version"],
        "steps": rows(left["steps"], right["steps"], False),
        "variables": rows(left_vars, right_vars, True),
    }
