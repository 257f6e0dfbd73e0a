"""Helpers for the pipeline tests against octosim: a project of its own with a
three-phase lifecycle, a package step and a script step."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from octopus import OctopusClient, PollPolicy

from .conftest import FAST_RETRY, LOOPBACK

SPACE = "Spaces-1"
QUICK_POLL = PollPolicy(initial=0.05, factor=1.5, maximum=0.3, timeout=60)


def client(sim: Any) -> OctopusClient:
    return OctopusClient(sim.url, sim.api_key, policy=LOOPBACK, retry=FAST_RETRY)


@dataclass
class Pipeline:
    """A project of its own: a three-phase lifecycle, a package step and a script step."""

    project: dict[str, Any]
    lifecycle: dict[str, Any]
    package_id: str
    environments: dict[str, str]  # name -> id

    @property
    def name(self) -> str:
        return str(self.project["Name"])


def package_step(package_id: str) -> dict[str, Any]:
    return {
        "Name": "Deploy web",
        "Properties": {"Octopus.Action.TargetRoles": "web-server"},
        "Actions": [
            {
                "Name": "Deploy web",
                "ActionType": "Octopus.TentaclePackage",
                "Properties": {"Octopus.Action.Package.DownloadOnTentacle": "False"},
                "Packages": [{"Name": "", "PackageId": package_id, "FeedId": "feeds-builtin"}],
            }
        ],
    }


def script_step(name: str, **action: Any) -> dict[str, Any]:
    return {
        "Name": name,
        "Actions": [
            {
                "Name": name,
                "ActionType": "Octopus.Script",
                "Properties": {"Octopus.Action.Script.ScriptBody": "echo hi"},
                **action,
            }
        ],
    }


def make_pipeline(
    c: OctopusClient, tmp_path: Path, versions: tuple[str, ...] = ("1.0.0",)
) -> Pipeline:
    suffix = uuid.uuid4().hex[:8]
    envs = {e["Name"]: e["Id"] for e in c.get_all(f"/api/{SPACE}/environments")}
    lifecycle = c.create_lifecycle(
        SPACE,
        {
            "Name": f"Three phases {suffix}",
            "Phases": [
                {"Name": name, "OptionalDeploymentTargets": [envs[name]],
                 "AutomaticDeploymentTargets": [], "MinimumEnvironmentsBeforePromotion": 0,
                 "IsOptionalPhase": False}
                for name in ("Development", "Test", "Production")
            ],
        },
    )  # fmt: skip
    group = c.get(f"/api/{SPACE}/projectgroups/all")[0]
    project = c.post(
        f"/api/{SPACE}/projects",
        {
            "Name": f"Pipeline {suffix}",
            "ProjectGroupId": group["Id"],
            "LifecycleId": lifecycle["Id"],
        },
    )
    package_id = f"Acme.P{suffix}"
    for version in versions:
        path = tmp_path / f"{package_id}.{version}.zip"
        path.write_bytes(f"{package_id} {version}".encode())
        c.upload_package(SPACE, path)
    process = c.project_deployment_process(SPACE, project["Id"])
    process["Steps"] = [package_step(package_id), script_step("Smoke test")]
    c.update_deployment_process(SPACE, process)
    return Pipeline(project, lifecycle, package_id, envs)
