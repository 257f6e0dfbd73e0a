"""How a lifecycle governs where a release may be deployed, and channel version rules.

Phases are walked in order; each adds its environments to those a release may reach. A
phase is complete when every one of its environments has a successful deployment of the
release, or, with ``MinimumEnvironmentsBeforePromotion`` N > 0, at least N of them; the
first incomplete phase that is not optional is the current one and stops the walk. A
lifecycle without phases has an implicit phase per environment, in environment order.
An environment the release was already deployed to stays open (a redeployment).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field

from octosim import resources as R
from octosim.api_packages import version_key
from octosim.errors import invalid
from octosim.state import Doc, InstanceState, ReleaseRec


@dataclass
class PhaseState:
    phase: Doc
    progress: str  # "Complete", "Current" or "Pending"
    environments: list[str]
    deployments: list[str] = field(default_factory=list)  # deployment ids in this phase


def lifecycle_of(st: InstanceState, rel: ReleaseRec) -> Doc | None:
    lifecycles = st.col(rel.space_id, "lifecycles")
    channel = st.col(rel.space_id, "channels").get(rel.channel_id)
    if channel and channel.get("LifecycleId") in lifecycles:
        return lifecycles[channel["LifecycleId"]]
    project = st.col(rel.space_id, "projects").get(rel.project_id)
    return lifecycles.get(project["LifecycleId"]) if project else None


def phases_of(st: InstanceState, space_id: str, lifecycle: Doc | None) -> list[Doc]:
    if lifecycle and lifecycle["Phases"]:
        return list(lifecycle["Phases"])
    envs = sorted(st.col(space_id, "environments").values(), key=lambda e: e["SortOrder"])
    return [
        {
            "Id": f"implicit-{env['Id']}",
            "Name": env["Name"],
            "AutomaticDeploymentTargets": [],
            "OptionalDeploymentTargets": [env["Id"]],
            "MinimumEnvironmentsBeforePromotion": 0,
            "IsOptionalPhase": False,
        }
        for env in envs
    ]


def _succeeded(
    st: InstanceState, rel: ReleaseRec, moment: float, tenant_id: str | None
) -> tuple[set[str], list[str]]:
    envs: set[str] = set()
    deployments: list[str] = []
    for dep in st.deployments.values():
        if dep.release_id != rel.id or (tenant_id is not None and dep.tenant_id != tenant_id):
            continue
        deployments.append(dep.id)
        task = st.tasks.get(dep.task_id)
        if task is not None and task.state(moment) == "Success":
            envs.add(dep.environment_id)
    return envs, deployments


def progression(
    st: InstanceState, rel: ReleaseRec, moment: float, tenant_id: str | None = None
) -> list[PhaseState]:
    """The phases for the release; with ``tenant_id``, as that tenant has progressed (a
    tenanted deployment follows the lifecycle per tenant)."""
    done, deployment_ids = _succeeded(st, rel, moment, tenant_id)
    by_env: dict[str, list[str]] = {}
    for dep_id in deployment_ids:
        by_env.setdefault(st.deployments[dep_id].environment_id, []).append(dep_id)
    out: list[PhaseState] = []
    blocked = False
    for phase in phases_of(st, rel.space_id, lifecycle_of(st, rel)):
        envs = list(phase["AutomaticDeploymentTargets"]) + [
            e for e in phase["OptionalDeploymentTargets"]
            if e not in phase["AutomaticDeploymentTargets"]
        ]  # fmt: skip
        reached = [e for e in envs if e in done]
        minimum = int(phase.get("MinimumEnvironmentsBeforePromotion") or 0)
        complete = len(reached) >= minimum if minimum > 0 else len(reached) == len(envs)
        if blocked:
            progress = "Pending"
        elif complete:
            progress = "Complete"
        else:
            progress = "Current"
            blocked = not phase.get("IsOptionalPhase")
        deps = [d for e in envs for d in by_env.get(e, [])]
        out.append(PhaseState(phase, progress, envs, deps))
    return out


def allowed_environments(
    st: InstanceState, rel: ReleaseRec, moment: float, tenant_id: str | None = None
) -> set[str]:
    allowed: set[str] = set()
    for state in progression(st, rel, moment, tenant_id):
        if state.progress != "Pending":
            allowed.update(state.environments)
        allowed.update(st.deployments[d].environment_id for d in state.deployments)
    return allowed


def normalize_phases(envs: dict[str, Doc], doc: Doc) -> None:
    """Octopus gives every lifecycle phase an id and its defaults; unknown environments and
    phases without a name are refused."""
    phases = doc.get("Phases")
    if not isinstance(phases, list):
        raise invalid("The Phases field must be a list.")
    errors = []
    out = []
    for raw in phases:
        if not isinstance(raw, dict) or not str(raw.get("Name") or "").strip():
            errors.append("Every phase needs a Name.")
            continue
        phase = R.phase(str(raw["Name"]), [])
        phase["Id"] = raw.get("Id") or str(uuid.uuid4())
        for key in ("AutomaticDeploymentTargets", "OptionalDeploymentTargets"):
            phase[key] = [str(e) for e in raw.get(key) or []]
            errors.extend(
                f"The environment '{e}' in phase '{phase['Name']}' does not exist."
                for e in phase[key]
                if e not in envs
            )
        phase["MinimumEnvironmentsBeforePromotion"] = int(
            raw.get("MinimumEnvironmentsBeforePromotion") or 0
        )
        phase["IsOptionalPhase"] = bool(raw.get("IsOptionalPhase"))
        for key in ("ReleaseRetentionPolicy", "TentacleRetentionPolicy"):
            phase[key] = raw.get(key)
        out.append(phase)
    if errors:
        raise invalid(*errors)
    doc["Phases"] = out


# ---------------------------------------------------------------- channel version rules


def in_range(version: str, spec: str) -> bool:
    """NuGet version range: ``1.0`` (at least), ``[1.0]`` (exact), ``[1.0,2.0)``, ``(,2.0]``."""
    spec = spec.strip()
    if not spec:
        return True
    key = version_key(version)
    if spec[0] not in "[(":
        return key >= version_key(spec)
    if len(spec) < 2 or spec[-1] not in "])":
        raise ValueError(f"The version range '{spec}' is not valid.")
    inner = spec[1:-1]
    if "," not in inner:
        return key == version_key(inner.strip())
    low, high = (part.strip() for part in inner.split(",", 1))
    if low:
        bound = version_key(low)
        if key < bound or (spec[0] == "(" and key == bound):
            return False
    if high:
        bound = version_key(high)
        if key > bound or (spec[-1] == ")" and key == bound):
            return False
    return True


def tag_matches(version: str, tag: str) -> bool:
    if not tag:
        return True
    pre = version.partition("+")[0].partition("-")[2]
    try:
        return re.search(tag, pre) is not None
    except re.error:
        return False


def rule_violations(channel: Doc, selected: list[Doc]) -> list[str]:
    """Messages for each selected package (``SelectedPackage`` plus ``PackageId``) that a
    version rule of ``channel`` covers but does not allow."""
    errors = []
    for rule in channel.get("Rules") or []:
        covered = {
            (str(ap.get("DeploymentAction") or ""), str(ap.get("PackageReference") or ""))
            for ap in rule.get("ActionPackages") or []
        }
        for pkg in selected:
            if (pkg["ActionName"], pkg["PackageReferenceName"] or "") not in covered:
                continue
            ok = in_range(pkg["Version"], str(rule.get("VersionRange") or "")) and tag_matches(
                pkg["Version"], str(rule.get("Tag") or "")
            )
            if not ok:
                errors.append(
                    f"The package '{pkg['PackageId']}' version '{pkg['Version']}' of step "
                    f"'{pkg['StepName']}' does not satisfy the version rules of channel "
                    f"'{channel['Name']}' (range '{rule.get('VersionRange') or ''}', "
                    f"tag '{rule.get('Tag') or ''}')."
                )
    return errors
