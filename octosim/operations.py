"""Things the control API does to an instance: live activity, ground truth, direct edits."""

from __future__ import annotations

import random
import uuid
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from octosim import engine
from octosim import resources as R
from octosim.history import live_deployment
from octosim.instance import Instance
from octosim.processes import freeze_shared
from octosim.state import Doc, now


def add_activity(
    inst: Instance, deployments: int = 1, rng: random.Random | None = None
) -> list[str]:
    """Start ``deployments`` new deployments now through the release pipeline: sometimes a
    new build and release, then the next environment of its lifecycle; each is queued and
    run step by step by the task engine."""
    rng = rng or random.Random()
    created = []
    for _ in range(deployments):
        dep_id = live_deployment(inst, rng)
        if dep_id is not None:
            created.append(dep_id)
    return created


def _day(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d")


def _variable_sets_by_space(docs: Iterable[Doc]) -> dict[str, dict[str, Any]]:
    """Per space, each variable set's owner, ``Version`` and sensitive variables with only
    whether they hold a value (``has_value``): the value itself never leaves octosim here."""
    out: dict[str, dict[str, Any]] = {}
    for vs in docs:
        out.setdefault(str(vs["SpaceId"]), {})[vs["Id"]] = {
            "owner_id": vs["OwnerId"],
            "version": vs["Version"],
            "sensitive": [
                {
                    "id": v["Id"],
                    "name": v["Name"],
                    "scope": v.get("Scope") or {},
                    "has_value": v.get("Value") not in (None, ""),
                }
                for v in vs["Variables"]
                if v.get("IsSensitive")
            ],
        }
    return out


def truth(inst: Instance) -> dict[str, Any]:
    """What is really on the instance, for assertions and dashboards to compare with."""
    st = inst.state
    moment = now()
    engine.advance(inst, moment)
    running = engine.running_per_node(st)
    spaces: dict[str, Any] = {}
    variable_sets = _variable_sets_by_space(st.variable_sets.values())
    for space_id, space in st.spaces.items():
        machines = list(st.col(space_id, "machines").values())
        envs = st.col(space_id, "environments")
        by_key: Counter[tuple[str, str, str]] = Counter()
        by_state: Counter[str] = Counter()
        for dep in st.deployments.values():
            if dep.space_id != space_id:
                continue
            task = st.tasks.get(dep.task_id)
            state = task.state(moment) if task else "Unknown"
            by_key[(_day(dep.created), dep.environment_id, state)] += 1
            by_state[state] += 1
        health = Counter(m["HealthStatus"] for m in machines)
        spaces[space_id] = {
            "name": space["Name"],
            "is_default": space["IsDefault"],
            "task_queue_stopped": space["TaskQueueStopped"],
            "projects": len(st.col(space_id, "projects")),
            "project_names": sorted(p["Name"] for p in st.col(space_id, "projects").values()),
            "machines": len(machines),
            "machines_by_health": dict(health),
            "unhealthy_machines": health["Unhealthy"] + health["Unavailable"],
            "environments": len(envs),
            "environment_names": [
                e["Name"] for e in sorted(envs.values(), key=lambda e: e["SortOrder"])
            ],
            "tenants": len(st.col(space_id, "tenants")),
            "library_variable_sets": len(st.col(space_id, "libraryvariablesets")),
            "action_templates": len(st.col(space_id, "actiontemplates")),
            "variable_sets": variable_sets.get(space_id, {}),
            "releases": sum(1 for r in st.releases.values() if r.space_id == space_id),
            "packages": sum(1 for p in st.packages.values() if p["SpaceId"] == space_id),
            "runbooks": len(st.col(space_id, "runbooks")),
            "pending_interruptions": sum(
                1 for i in st.interruptions.values() if i["SpaceId"] == space_id and i["IsPending"]
            ),
            "deployments_total": sum(by_state.values()),
            "deployments_by_state": dict(by_state),
            "deployments": [
                {
                    "date": day,
                    "environment_id": env_id,
                    "environment": envs[env_id]["Name"] if env_id in envs else env_id,
                    "state": state,
                    "count": count,
                }
                for (day, env_id, state), count in sorted(by_key.items())
            ],
        }
    return {
        "name": inst.name,
        "slug": inst.slug,
        "version": inst.version,
        "installation_id": inst.installation_id,
        "spaces": spaces,
        "teams": len(st.sys("teams")),
        "users": len(st.sys("users")),
        "tasks_total": len(st.tasks),
        "nodes": [
            {
                "id": n["Id"],
                "name": n["Name"],
                "max_concurrent_tasks": n["MaxConcurrentTasks"],
                "running": running.get(n["Id"], 0),
                "offline": n["Offline"],
                "draining": n["IsInMaintenanceMode"],
            }
            for n in engine.nodes(inst)
        ],
    }


def edit_variable_set(inst: Instance, variable_set_id: str, change: dict[str, Any]) -> Doc:
    """Change a variable set the way a person would in the web UI (bumps ``Version``).

    ``change`` may hold ``set`` ({name: value}, updating the first variable with that
    name or adding one), ``remove`` ([names]) and ``add`` ([variable documents])."""
    st = inst.state
    vs = st.variable_sets.get(variable_set_id)
    if vs is None:
        raise KeyError(variable_set_id)
    freeze_shared(st, vs["OwnerId"])
    variables: list[Doc] = vs["Variables"]
    for name, value in (change.get("set") or {}).items():
        match = next((v for v in variables if v["Name"] == name), None)
        if match is None:
            variables.append(R.variable(name, value))
        else:
            match["Value"] = value
    removed = set(change.get("remove") or [])
    if removed:
        vs["Variables"] = variables = [v for v in variables if v["Name"] not in removed]
    for raw in change.get("add") or []:
        var = R.variable(
            raw["Name"],
            raw.get("Value"),
            sensitive=bool(raw.get("IsSensitive")),
            scope=raw.get("Scope") or {},
            ident=raw.get("Id") or str(uuid.uuid4()),
        )
        variables.append(var)
    vs["Version"] = int(vs["Version"]) + 1
    R.stamp(vs, "someone-else", now())
    return vs


def edit_team(inst: Instance, team_id: str, change: dict[str, Any]) -> Doc:
    """Change a team directly (name, description, members) as a person would."""
    team = inst.state.sys("teams").get(team_id)
    if team is None:
        raise KeyError(team_id)
    for key in ("Name", "Description", "MemberUserIds", "ExternalSecurityGroups"):
        if key in change:
            team[key] = change[key]
    if "add_members" in change:
        team["MemberUserIds"] = sorted(set(team["MemberUserIds"]).union(change["add_members"]))
    if "remove_members" in change:
        team["MemberUserIds"] = [
            u for u in team["MemberUserIds"] if u not in change["remove_members"]
        ]
    R.stamp(team, "someone-else", now())
    return team
