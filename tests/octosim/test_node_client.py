"""Octopus's official TypeScript client (@octopusdeploy/api-client) against octosim."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from octosim.testing import SimInstance

NODE_DIR = Path(__file__).parent / "node"
CLIENT = NODE_DIR / "node_modules" / "@octopusdeploy" / "api-client" / "package.json"


@pytest.fixture(scope="session")
def node_client() -> Path:
    """The client's node_modules, installed from the committed lock file only when missing."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.fail(
            "Node.js and npm are needed for the client conformance test: "
            "apt-get install nodejs npm (make test does, as root)"
        )
    if not CLIENT.exists():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=NODE_DIR,
            check=True,
            timeout=600,
        )
    return NODE_DIR


def run_script(
    node_dir: Path, inst: SimInstance, script: str = "conformance.js", *extra: str
) -> dict[str, Any]:
    suffix = uuid.uuid4().hex[:8]
    proc = subprocess.run(
        ["node", script, inst.url, inst.api_key, suffix, *extra],
        cwd=node_dir,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert proc.returncode == 0 and "error" not in out, out
    steps = {s["name"]: s["value"] for s in out["steps"]}
    steps["suffix"] = suffix
    return steps


def test_typescript_client_round_trips_through_octosim(
    node_client: Path, sim_instance: SimInstance
) -> None:
    steps = run_script(node_client, sim_instance)
    suffix = steps["suffix"]
    truth = sim_instance.truth()

    info = steps["serverInformation"]
    assert info == {"version": sim_instance.version, "installationId": sim_instance.installation_id}
    assert steps["currentUser"]["Username"] == "admin"

    space = steps["createSpace"]
    listed = steps["listSpaces"]
    assert listed["ItemType"] == "Space"
    assert listed["TotalResults"] == 3
    seeded = [s["name"] for sid, s in truth["spaces"].items() if sid != space["created"]["Id"]]
    assert sorted(listed["Names"]) == sorted(seeded)

    assert space["created"] == space["readBack"]
    assert space["created"]["Name"] == f"Conformance {suffix}"
    assert space["created"]["Description"] == "created by the TypeScript client"
    assert space["created"]["SpaceManagersTeamMembers"] == ["Users-1"]
    space_id = space["created"]["Id"]
    assert space_id in truth["spaces"]

    env = steps["createEnvironment"]
    assert env["created"] == env["readBack"]
    assert env["created"]["Name"] == f"Env {suffix}"
    assert env["created"]["Description"] == "from node"
    assert env["created"]["SpaceId"] == space_id
    assert env["listed"] == [env["created"]["Id"]]

    group = steps["createProjectGroup"]
    assert group["created"] == group["readBack"]
    assert group["created"]["Name"] == f"Group {suffix}" and group["created"]["SpaceId"] == space_id

    assert "Default Lifecycle" in steps["listLifecycles"]["Names"]

    project = steps["createProject"]
    assert project["created"] == project["readBack"]
    assert project["created"]["Name"] == f"Project {suffix}"
    assert project["created"]["ProjectGroupId"] == group["created"]["Id"]
    assert project["created"]["VariableSetId"] == f"variableset-{project['created']['Id']}"
    assert project["listed"] == [project["created"]["Id"]]
    assert steps["deleteProject"]["ok"] is True

    deployments = steps["listDeployments"]
    assert deployments["TotalResults"] == truth["spaces"]["Spaces-1"]["deployments_total"]
    assert len(deployments["Items"]) == 5
    tasks = steps["tasks"]
    assert [t["Id"] for t in tasks["byIds"]] == [d["TaskId"] for d in deployments["Items"]]
    assert all(t["Name"] == "Deploy" for t in tasks["byIds"])
    assert tasks["one"]["DeploymentId"] == deployments["Items"][0]["Id"]
    assert tasks["detailsTaskId"] == deployments["Items"][0]["TaskId"]
    assert tasks["rawHasId"] is True

    after = sim_instance.truth()["spaces"][space_id]
    assert after["projects"] == 0  # the script deleted the project it created
    assert after["environments"] == 1


def test_typescript_client_drives_the_release_pipeline_through_octosim(
    node_client: Path, sim_instance: SimInstance, tmp_path: Path
) -> None:
    sim_instance.set_faults(step_ms=50)
    steps = run_script(node_client, sim_instance, "pipeline.js", str(tmp_path))
    project = steps["project"]
    assert project["DeploymentProcessId"] == f"deploymentprocess-{project['Id']}"

    pushed = steps["packagePush"]
    assert pushed["Hash"] == pushed["localSha1"]
    assert pushed["PackageSizeBytes"] == pushed["localSize"]
    assert pushed["Versions"] == ["1.0.0", "1.1.0"]

    edit = steps["processEdit"]
    assert edit["saved"] == {"Version": edit["originalVersion"] + 1,
                             "Steps": ["Deploy web", "Smoke test"]}  # fmt: skip
    assert edit["readBack"] == ["Deploy web", "Smoke test"]
    assert edit["stale"]["refused"] and edit["stale"]["status"] == 400
    assert "another user has made changes" in edit["stale"]["message"]
    assert edit["afterStale"] == ["Deploy web", "Smoke test"]

    variables = steps["variables"]
    assert variables["Version"][1] == variables["Version"][0] + 1
    assert "Greeting" in variables["Names"]

    release = steps["release"]
    assert release["created"]["ReleaseVersion"] == release["Version"] == "1.0.0"
    assert release["SelectedPackages"] == [["Deploy web", "1.0.0"]]
    assert release["snapshotsEqual"] is True
    assert release["snapshotSteps"] == ["Deploy web", "Smoke test"]
    assert "Greeting" in release["snapshotVariables"]
    assert release["liveSteps"] == ["Deploy web", "Smoke test", "Added later"]

    channel = steps["channel"]
    assert channel["channel"]["Name"] == "Hotfix"
    assert channel["channel"]["ProjectId"] == project["Id"]
    assert channel["releaseChannelId"] == channel["channel"]["Id"]
    assert channel["SelectedPackages"] == [["Deploy web", "1.1.0"]]

    deployment = steps["deployment"]
    started = deployment["DeploymentServerTasks"]
    assert len(started) == 1 and deployment["deploymentTaskId"] == started[0]["ServerTaskId"]
    assert deployment["deploymentReleaseId"] == release["created"]["ReleaseId"]
    assert deployment["finished"] == [
        {"Id": started[0]["ServerTaskId"], "State": "Success", "IsCompleted": True}
    ]
    assert deployment["detailsState"] == "Success"
    assert deployment["rawHasSteps"] == [True, True]

    refused = steps["refusedDeployment"]
    assert refused["refused"] and refused["status"] == 400
    assert "Production" in refused["message"] and "lifecycle" in refused["message"]

    runbook = steps["runbook"]
    assert runbook["runbook"]["ProjectId"] == project["Id"]
    assert runbook["editedDescription"] == "restarts the site"
    assert runbook["processSteps"] == ["Stop site", "Start site"]
    assert runbook["snapshot"]["Name"].startswith("Snapshot ")
    assert runbook["snapshot"]["Notes"] == "from node"
    assert runbook["publishedSnapshotId"] == runbook["snapshot"]["Id"]
    assert [t["State"] for t in runbook["finished"]] == ["Success"]
    assert runbook["run"] == {
        "RunbookSnapshotId": runbook["snapshot"]["Id"],
        "TaskId": runbook["finished"][0]["Id"],
    }
    assert runbook["logHas"] == [True, True, False]  # the run used the frozen snapshot
