"""The release pipeline over HTTP: processes, releases and their frozen snapshots,
channels, lifecycles and deployments that run to completion."""

from __future__ import annotations

import time
from typing import Any

import pytest

from octosim.testing import SimInstance
from tests.octosim.conftest import Api
from tests.octosim.pipeline_helpers import (
    S,
    create_release,
    deploy,
    envs,
    free_all_slots,
    new_project,
    package_step,
    pipeline_project,
    push,
    script_step,
    set_process,
    wait_task,
)  # fmt: skip


@pytest.fixture
def fast(sim_instance: SimInstance) -> SimInstance:
    sim_instance.set_faults(step_ms=50)
    return sim_instance


def test_new_steps_and_actions_get_ids_and_version_grows(api: Api) -> None:
    project = new_project(api)
    empty = api.get(f"{S}/projects/{project['Id']}/deploymentprocesses")
    assert empty["Steps"] == [] and empty["Id"] == project["DeploymentProcessId"]
    saved = set_process(api, project, [script_step("Hello")])
    assert saved["Version"] == empty["Version"] + 1
    step = saved["Steps"][0]
    assert step["Id"] and step["Actions"][0]["Id"] and step["Actions"][0]["Slug"] == "hello"
    same = api.get(f"{S}/deploymentprocesses/{project['DeploymentProcessId']}")
    assert same["Steps"] == saved["Steps"]


def test_stale_process_edit_is_refused(api: Api) -> None:
    project = new_project(api)
    path = f"{S}/deploymentprocesses/{project['DeploymentProcessId']}"
    first = api.get(path)
    set_process(api, project, [script_step("Someone else")])
    first["Steps"] = [script_step("Mine")]
    resp = api.put(path, first)
    assert resp.status_code == 400
    assert "another user has made changes" in resp.json()["ErrorMessage"]
    assert [s["Name"] for s in api.get(path)["Steps"]] == ["Someone else"]


def test_invalid_processes_are_refused_naming_each_problem(api: Api) -> None:
    project = new_project(api)
    path = f"{S}/projects/{project['Id']}/deploymentprocesses"
    doc = api.get(path)
    doc["Steps"] = [
        {"Name": "No action", "Actions": []},
        package_step("Bad feed", "Acme.X", feed="Feeds-999"),
        script_step("Bad env", Environments=["Environments-999"]),
    ]
    resp = api.put(path, doc)
    assert resp.status_code == 400
    errors = " ".join(resp.json()["Errors"])
    assert "'No action' must contain at least one action" in errors
    assert "Feeds-999" in errors and "Environments-999" in errors
    assert api.get(path)["Steps"] == []


def test_release_selects_package_versions_and_refuses_missing_and_duplicates(api: Api) -> None:
    project, package_id = pipeline_project(api)
    push(api, f"{package_id}.1.1.0.zip")
    latest = create_release(api, project, "1.0.0")
    assert latest.status_code == 200, latest.text
    rel = api.get(f"{S}/releases/{latest.json()['ReleaseId']}")
    assert rel["SelectedPackages"] == [
        {"ActionName": "Deploy", "StepName": "Deploy", "PackageReferenceName": "",
         "Version": "1.1.0"}
    ]  # fmt: skip
    pinned = create_release(api, project, "1.0.1", Packages=["Deploy:1.0.0"])
    assert (
        api.get(f"{S}/releases/{pinned.json()['ReleaseId']}")["SelectedPackages"][0]["Version"]
        == "1.0.0"
    )
    missing = create_release(api, project, "1.0.2", PackageVersion="9.9.9")
    assert missing.status_code == 400
    assert f"Could not find package '{package_id}' version '9.9.9'" in missing.json()["Errors"][0]
    duplicate = create_release(api, project, "1.0.0")
    assert duplicate.status_code == 400
    assert "'1.0.0' already exists" in duplicate.json()["Errors"][0]
    edited = api.get(f"{S}/releases/{pinned.json()['ReleaseId']}")
    edited["ReleaseNotes"] = "fixed notes"
    edited["SelectedPackages"][0]["Version"] = "1.1.0"
    saved = api.put(f"{S}/releases/{edited['Id']}", edited)
    assert saved.status_code == 200, saved.text
    assert saved.json()["SelectedPackages"][0]["Version"] == "1.1.0"
    assert saved.json()["ReleaseNotes"] == "fixed notes"
    edited["SelectedPackages"][0]["Version"] = "7.7.7"
    assert api.put(f"{S}/releases/{edited['Id']}", edited).status_code == 400
    edited["Version"] = "1.0.0"
    assert api.put(f"{S}/releases/{edited['Id']}", edited).status_code == 400  # taken
    again = create_release(api, project, "1.0.0", IgnoreIfAlreadyExists=True)
    assert again.status_code == 200 and again.json()["ReleaseId"] == latest.json()["ReleaseId"]
    found = api.get(f"{S}/projects/{project['Id']}/releases", params={"searchByVersion": "1.0.1"})
    assert [r["Version"] for r in found["Items"]] == ["1.0.1"]
    by_version = api.get(f"{S}/projects/{project['Id']}/releases/1.0.1")
    assert by_version["Id"] == pinned.json()["ReleaseId"]


def test_release_snapshot_stays_frozen_after_live_edits(
    api: Api, sim_instance: SimInstance
) -> None:
    project, _ = pipeline_project(api)
    lvs = api.get(f"{S}/libraryvariablesets/all")[0]
    project["IncludedLibraryVariableSetIds"] = [lvs["Id"]]
    assert api.put(f"{S}/projects/{project['Id']}", project).status_code == 200
    sim_instance.edit_variable_set(project["VariableSetId"], set={"Greeting": "hello"})
    rel = api.get(f"{S}/releases/{create_release(api, project, '1.0.0').json()['ReleaseId']}")
    set_process(api, project, [script_step("Only this now")])
    sim_instance.edit_variable_set(project["VariableSetId"], set={"Greeting": "changed"})
    sim_instance.edit_variable_set(lvs["VariableSetId"], set={"Lib.New": "x"})
    process = api.get(f"{S}/deploymentprocesses/{rel['ProjectDeploymentProcessSnapshotId']}")
    assert [s["Name"] for s in process["Steps"]] == ["Deploy", "Smoke test"]
    variables = api.get(f"{S}/variables/{rel['ProjectVariableSetSnapshotId']}")
    assert {v["Name"]: v["Value"] for v in variables["Variables"]}["Greeting"] == "hello"
    (lib_snapshot,) = rel["LibraryVariableSetSnapshotIds"]
    lib = api.get(f"{S}/variables/{lib_snapshot}")
    assert "Lib.New" not in {v["Name"] for v in lib["Variables"]}
    refreshed = api.client.post(f"{S}/releases/{rel['Id']}/snapshot-variables")
    assert refreshed.status_code == 200
    new_vars = api.get(f"{S}/variables/{refreshed.json()['ProjectVariableSetSnapshotId']}")
    assert {v["Name"]: v["Value"] for v in new_vars["Variables"]}["Greeting"] == "changed"
    assert refreshed.json()["ProjectDeploymentProcessSnapshotId"] == process["Id"]


def test_generated_release_snapshot_is_frozen_on_first_edit(api: Api) -> None:
    rel = api.get(f"{S}/releases")["Items"][0]
    snapshot_path = f"{S}/deploymentprocesses/{rel['ProjectDeploymentProcessSnapshotId']}"
    before = api.get(snapshot_path)
    live_path = f"{S}/projects/{rel['ProjectId']}/deploymentprocesses"
    live = api.get(live_path)
    live["Steps"] = [script_step("Replaced")]
    assert api.put(live_path, live).status_code == 200
    assert api.get(snapshot_path)["Steps"] == before["Steps"]


def test_lifecycle_refuses_an_environment_not_reached_yet(api: Api, fast: SimInstance) -> None:
    project, _ = pipeline_project(api)
    assert create_release(api, project, "1.0.0").status_code == 200
    chain = envs(api)
    refused = deploy(api, project, "1.0.0", chain[-1]["Name"])
    assert refused.status_code == 400
    assert "cannot be deployed to environment" in refused.json()["Errors"][0]
    first = deploy(api, project, "1.0.0", chain[0]["Name"])
    assert first.status_code == 200, first.text
    task = first.json()["DeploymentServerTasks"][0]["ServerTaskId"]
    assert wait_task(api, task)["State"] == "Success"
    progression = api.get(f"{S}/releases/{_release_id(api, project)}/progression")
    assert progression["Phases"][0]["Progress"] == "Complete"
    assert progression["Phases"][1]["Progress"] == "Current"
    assert chain[1]["Id"] in progression["NextDeployments"]
    template = api.get(f"{S}/releases/{_release_id(api, project)}/deployments/template")
    assert [t["Id"] for t in template["PromoteTo"]] == [chain[0]["Id"], chain[1]["Id"]]
    assert not template["IsDeploymentProcessModified"]
    set_process(api, project, [script_step("Changed")])
    template = api.get(f"{S}/releases/{_release_id(api, project)}/deployments/template")
    assert template["IsDeploymentProcessModified"] and not template["IsVariableSetModified"]
    assert deploy(api, project, "1.0.0", chain[1]["Name"]).status_code == 200


def _release_id(api: Api, project: dict[str, Any]) -> str:
    return str(api.get(f"{S}/projects/{project['Id']}/releases")["Items"][0]["Id"])


def test_deployment_runs_its_steps_to_success_with_a_log(api: Api, fast: SimInstance) -> None:
    project, _ = pipeline_project(api)
    steps = api.get(f"{S}/projects/{project['Id']}/deploymentprocesses")["Steps"]
    steps.append(script_step("Disabled one", IsDisabled=True))
    steps.append(script_step("Skipped one"))
    steps.append(script_step("Production only", Environments=[envs(api)[-1]["Id"]]))
    set_process(api, project, steps)
    create_release(api, project, "2.0.0")
    resp = deploy(api, project, "2.0.0", envs(api)[0]["Name"], SkipStepNames=["Skipped one"])
    started = resp.json()["DeploymentServerTasks"][0]
    dep = api.get(f"{S}/deployments/{started['DeploymentId']}")
    assert dep["TaskId"] == started["ServerTaskId"] and dep["SkipActions"] == ["Skipped one"]
    task = wait_task(api, started["ServerTaskId"])
    assert task["State"] == "Success" and task["ServerNode"] == "OctopusServerNodes-1"
    details = api.get(f"/api/tasks/{task['Id']}/details")
    children = details["ActivityLogs"][0]["Children"]
    assert [(c["Name"], c["Status"]) for c in children] == [
        ("Step 1: Deploy", "Success"),
        ("Step 2: Smoke test", "Success"),
        ("Step 3: Disabled one", "Skipped"),
        ("Step 4: Skipped one", "Skipped"),
        ("Step 5: Production only", "Skipped"),
    ]
    raw = api.client.get(f"/api/tasks/{task['Id']}/raw").text
    assert "Step 2: Smoke test" in raw and "Task finished: Success." in raw


def test_a_failing_step_fails_the_deployment(api: Api, fast: SimInstance) -> None:
    project, _ = pipeline_project(api)
    fast.set_faults(failing_steps={project["Name"]: "Deploy"})
    create_release(api, project, "1.0.0")
    started = deploy(api, project, "1.0.0", envs(api)[0]["Name"]).json()
    task = wait_task(api, started["DeploymentServerTasks"][0]["ServerTaskId"])
    assert task["State"] == "Failed" and task["ErrorMessage"]
    details = api.get(f"/api/tasks/{task['Id']}/details")
    statuses = [c["Status"] for c in details["ActivityLogs"][0]["Children"]]
    assert statuses == ["Failed", "Skipped"]


def test_node_cap_keeps_the_rest_queued_and_cancel_frees_a_slot(
    api: Api, sim_instance: SimInstance
) -> None:
    sim_instance.set_faults(step_ms=60_000)
    free_all_slots(api)
    project, _ = pipeline_project(api)
    create_release(api, project, "1.0.0")
    env = envs(api)[0]["Name"]
    tasks = [
        deploy(api, project, "1.0.0", env).json()["DeploymentServerTasks"][0]["ServerTaskId"]
        for _ in range(7)
    ]
    states = [api.get(f"/api/tasks/{t}")["State"] for t in tasks]
    assert states == ["Executing"] * 5 + ["Queued"] * 2
    queued = api.get(f"{S}/tasks", params={"states": "Queued", "project": project["Id"]})
    assert {t["Id"] for t in queued["Items"]} == set(tasks[5:])
    behind = api.get(f"/api/tasks/{tasks[6]}/queued-behind")
    assert [t["Id"] for t in behind["Items"]] == [tasks[5]]
    summary = api.get("/api/octopusservernodes/summary")
    assert (
        summary["Nodes"][0]["RunningTaskCount"] == 5
        and summary["Nodes"][0]["MaxConcurrentTasks"] == 5
    )
    canceled = api.client.post(f"/api/tasks/{tasks[0]}/cancel").json()
    assert canceled["State"] == "Canceled"
    assert api.get(f"/api/tasks/{tasks[5]}")["State"] == "Executing"
    assert api.get(f"/api/tasks/{tasks[6]}")["State"] == "Queued"


def test_a_stopped_task_queue_keeps_deployments_queued(api: Api, fast: SimInstance) -> None:
    project, _ = pipeline_project(api)
    create_release(api, project, "1.0.0")
    space = api.get("/api/spaces/Spaces-1")
    space["TaskQueueStopped"] = True
    assert api.put("/api/spaces/Spaces-1", space).status_code == 200
    started = deploy(api, project, "1.0.0", envs(api)[0]["Name"]).json()
    task_id = started["DeploymentServerTasks"][0]["ServerTaskId"]
    assert api.get(f"/api/tasks/{task_id}")["State"] == "Queued"
    space["TaskQueueStopped"] = False
    api.put("/api/spaces/Spaces-1", space)
    assert wait_task(api, task_id)["State"] == "Success"


def test_manual_intervention_waits_for_submit(api: Api, fast: SimInstance) -> None:
    project, _ = pipeline_project(api)
    fast.set_faults(interventions=[project["Id"]])
    create_release(api, project, "1.0.0")
    started = deploy(api, project, "1.0.0", envs(api)[0]["Name"]).json()
    task_id = started["DeploymentServerTasks"][0]["ServerTaskId"]
    pending = api.get(f"{S}/interruptions", params={"regarding": task_id, "pendingOnly": "true"})
    (intr,) = pending["Items"]
    assert intr["IsPending"] and api.get(f"/api/tasks/{task_id}")["HasPendingInterruptions"]
    pending_before = fast.truth()["spaces"]["Spaces-1"]["pending_interruptions"]
    path = f"{S}/interruptions/{intr['Id']}"
    early = api.post(f"{path}/submit", {"Result": "Proceed"})
    assert early.status_code == 400 and "responsibility" in early.json()["Errors"][0]
    assert api.put(f"{path}/responsible", None).json()["Id"] == "Users-1"
    done = api.post(f"{path}/submit", {"Result": "Proceed", "Notes": "ok"})
    assert done.status_code == 200 and not done.json()["IsPending"]
    assert fast.truth()["spaces"]["Spaces-1"]["pending_interruptions"] == pending_before - 1
    assert wait_task(api, task_id)["State"] == "Success"


def test_channels_crud_and_version_rules(api: Api) -> None:
    project, package_id = pipeline_project(api)
    push(api, f"{package_id}.2.0.0-beta.zip")
    channels = api.get(f"{S}/projects/{project['Id']}/channels")["Items"]
    assert [c["IsDefault"] for c in channels] == [True]
    created = api.post(
        f"{S}/channels",
        {"Name": "Stable", "ProjectId": project["Id"],
         "Rules": [{"VersionRange": "[1.0,2.0)", "Tag": "^$",
                    "ActionPackages": [{"DeploymentAction": "Deploy", "PackageReference": ""}]}]},
    )  # fmt: skip
    assert created.status_code == 201, created.text
    channel = created.json()
    refused = create_release(
        api, project, "1.0.0", ChannelName="Stable", PackageVersion="2.0.0-beta"
    )
    assert refused.status_code == 400 and "version rules" in refused.json()["Errors"][0]
    classic = {"ProjectId": project["Id"], "ChannelId": channel["Id"], "Version": "0.9.0",
               "SelectedPackages": [{"ActionName": "Deploy", "Version": "2.0.0-beta"}]}  # fmt: skip
    assert api.post(f"{S}/releases", classic).status_code == 400
    forced = api.client.post(f"{S}/releases", params={"ignoreChannelRules": "true"}, json=classic)
    assert forced.status_code == 201 and forced.json()["IgnoreChannelRules"]
    ok = create_release(api, project, "1.0.0", ChannelName="Stable", PackageVersion="1.0.0")
    assert ok.status_code == 200
    assert api.get(f"{S}/channels/{channel['Id']}/releases")["TotalResults"] == 2
    default = channels[0]
    assert api.delete(f"{S}/channels/{default['Id']}").status_code == 400
    assert api.delete(f"{S}/channels/{channel['Id']}").status_code == 400  # has a release
    channel["Name"] = "Stable 2"
    assert api.put(f"{S}/channels/{channel['Id']}", channel).json()["Name"] == "Stable 2"


def test_tenanted_deployments_need_a_connected_tenant(api: Api, fast: SimInstance) -> None:
    project, _ = pipeline_project(api)
    project["TenantedDeploymentMode"] = "TenantedOrUntenanted"
    api.put(f"{S}/projects/{project['Id']}", project)
    first = envs(api)[0]
    tenant = api.post(f"{S}/tenants", {"Name": f"T {project['Id']}"}).json()
    create_release(api, project, "1.0.0")
    body = {
        "ProjectName": project["Name"],
        "ReleaseVersion": "1.0.0",
        "EnvironmentName": first["Name"],
        "Tenants": [tenant["Name"]],
        "TenantTags": [],
    }
    refused = api.post(f"{S}/deployments/create/tenanted/v1", body)
    assert refused.status_code == 400 and "ProjectEnvironments" in refused.json()["Errors"][0]
    tenant["ProjectEnvironments"] = {project["Id"]: [first["Id"]]}
    assert api.put(f"{S}/tenants/{tenant['Id']}", tenant).status_code == 200
    ok = api.post(f"{S}/deployments/create/tenanted/v1", body)
    assert ok.status_code == 200, ok.text
    dep = api.get(f"{S}/deployments/{ok.json()['DeploymentServerTasks'][0]['DeploymentId']}")
    assert dep["TenantId"] == tenant["Id"]


def test_tenant_variables_round_trip_and_keep_sensitive_values(api: Api) -> None:
    project = new_project(api)
    project["Templates"] = [
        {"Id": "tpl-url", "Name": "Tenant.Url", "Label": "URL", "HelpText": "", "DefaultValue": "",
         "DisplaySettings": {"Octopus.ControlType": "SingleLineText"}},
        {"Id": "tpl-key", "Name": "Tenant.Key", "Label": "Key", "HelpText": "", "DefaultValue": "",
         "DisplaySettings": {"Octopus.ControlType": "Sensitive"}},
    ]  # fmt: skip
    assert api.put(f"{S}/projects/{project['Id']}", project).status_code == 200
    env = envs(api)[0]["Id"]
    tenant = api.post(
        f"{S}/tenants",
        {"Name": f"TV {project['Id']}", "ProjectEnvironments": {project["Id"]: [env]}},
    ).json()
    path = f"{S}/tenants/{tenant['Id']}/variables"
    doc = api.get(path)
    doc["ProjectVariables"][project["Id"]]["Variables"][env] = {
        "tpl-url": "https://acme.example",
        "tpl-key": {"HasValue": True, "NewValue": "s3cret"},
    }
    saved = api.put(path, doc)
    assert saved.status_code == 200, saved.text
    values = saved.json()["ProjectVariables"][project["Id"]]["Variables"][env]
    assert values == {
        "tpl-url": "https://acme.example",
        "tpl-key": {"HasValue": True, "NewValue": None},
    }
    again = api.put(path, saved.json())  # the masked secret comes back: it is kept
    assert again.json()["ProjectVariables"][project["Id"]]["Variables"][env]["tpl-key"]["HasValue"]
    doc["ProjectVariables"][project["Id"]]["Variables"] = {"Environments-999": {"tpl-url": "x"}}
    assert api.put(path, doc).status_code == 400


def test_a_variable_template_saved_without_an_id_gets_one(api: Api) -> None:
    project = new_project(api)
    project["Templates"] = [
        {"Id": "tpl-kept", "Name": "Tenant.Kept", "DisplaySettings": {}},
        {"Name": "Tenant.New", "DisplaySettings": {}},
    ]
    saved = api.put(f"{S}/projects/{project['Id']}", project).json()
    ids = {t["Name"]: t["Id"] for t in saved["Templates"]}
    assert ids["Tenant.Kept"] == "tpl-kept" and ids["Tenant.New"]
    lvs = api.post(
        f"{S}/libraryvariablesets",
        {"Name": f"TV set {project['Id']}", "Templates": [{"Name": "Common.Region"}]},
    ).json()
    assert lvs["Templates"][0]["Id"]


def test_steps_run_on_the_chosen_targets_of_their_role(api: Api, fast: SimInstance) -> None:
    env = envs(api)[0]
    made = []
    for name in ("pick-me", "not-me", "excluded"):
        body = {"Name": f"{name}-{env['Id']}", "EnvironmentIds": [env["Id"]],
                "Roles": ["web-server"], "Endpoint": {"CommunicationStyle": "None"}}  # fmt: skip
        made.append(api.post(f"{S}/machines", body).json()["Name"])
    project, _ = pipeline_project(api)
    create_release(api, project, "1.0.0")
    only = deploy(api, project, "1.0.0", env["Name"], SpecificMachineNames=[made[0]]).json()
    raw = api.client.get(
        f"/api/tasks/{wait_task(api, only['DeploymentServerTasks'][0]['ServerTaskId'])['Id']}/raw"
    ).text
    assert f"Running 'Deploy' on {made[0]}" in raw and made[1] not in raw
    rest = deploy(api, project, "1.0.0", env["Name"], ExcludedMachineNames=[made[2]]).json()
    task = wait_task(api, rest["DeploymentServerTasks"][0]["ServerTaskId"])
    raw = api.client.get(f"/api/tasks/{task['Id']}/raw").text
    assert f"on {made[1]}" in raw and f"on {made[2]}" not in raw


def test_optional_phases_and_phaseless_lifecycles(api: Api, fast: SimInstance) -> None:
    chain = envs(api)
    first, second, last = chain[0], chain[1], chain[-1]
    created = api.post(
        f"{S}/lifecycles",
        {"Name": f"Optional first {first['Id']}-{last['Id']}-{id(api)}", "Phases": [
            {"Name": "Dev", "OptionalDeploymentTargets": [first["Id"]], "IsOptionalPhase": True},
            {"Name": "Test", "OptionalDeploymentTargets": [second["Id"]]},
            {"Name": "Prod", "OptionalDeploymentTargets": [last["Id"]]},
        ]},
    )  # fmt: skip
    assert created.status_code == 201, created.text
    lifecycle = created.json()
    assert all(p["Id"] for p in lifecycle["Phases"])
    bad = api.post(f"{S}/lifecycles", {"Name": "Broken", "Phases": [
        {"Name": "X", "OptionalDeploymentTargets": ["Environments-999"]}]})  # fmt: skip
    assert bad.status_code == 400 and "Environments-999" in bad.json()["Errors"][0]
    project, _ = pipeline_project(api)
    project["LifecycleId"] = lifecycle["Id"]
    assert api.put(f"{S}/projects/{project['Id']}", project).status_code == 200
    create_release(api, project, "1.0.0")
    assert deploy(api, project, "1.0.0", last["Name"]).status_code == 400
    skipped_optional = deploy(api, project, "1.0.0", second["Name"])
    assert skipped_optional.status_code == 200, skipped_optional.text
    task = skipped_optional.json()["DeploymentServerTasks"][0]["ServerTaskId"]
    assert wait_task(api, task)["State"] == "Success"
    assert deploy(api, project, "1.0.0", last["Name"]).status_code == 200
    empty = api.post(f"{S}/lifecycles", {"Name": f"No phases {project['Id']}"}).json()
    project = api.get(f"{S}/projects/{project['Id']}")
    project["LifecycleId"] = empty["Id"]
    api.put(f"{S}/projects/{project['Id']}", project)
    create_release(api, project, "2.0.0")
    implicit = deploy(api, project, "2.0.0", second["Name"])
    assert implicit.status_code == 400  # one implicit phase per environment, in order
    assert deploy(api, project, "2.0.0", first["Name"]).status_code == 200


def test_values_of_the_wrong_type_are_a_400_naming_the_field(api: Api) -> None:
    project = new_project(api)
    resp = api.post(f"{S}/runbooks", {"Name": "R", "ProjectId": project["Id"], "Environments": 5})
    assert resp.status_code == 400 and "Environments" in resp.json()["Errors"][0]
    body = {"ProjectName": project["Name"], "ReleaseVersion": "x", "EnvironmentNames": "Dev"}
    resp = api.post(f"{S}/deployments/create/untenanted/v1", body)
    assert resp.status_code == 400
    path = f"{S}/projects/{project['Id']}/deploymentprocesses"
    doc = api.get(path)
    doc["Steps"] = [{"Name": "a", "Actions": [{"ActionType": "x", "Environments": 5}]}]
    resp = api.put(path, doc)
    assert resp.status_code == 400 and resp.json()["ErrorMessage"]


def test_tenanted_deployments_follow_the_lifecycle_per_tenant(api: Api, fast: SimInstance) -> None:
    project, _ = pipeline_project(api)
    project["TenantedDeploymentMode"] = "Tenanted"
    api.put(f"{S}/projects/{project['Id']}", project)
    chain = envs(api)
    connected = {project["Id"]: [chain[0]["Id"], chain[1]["Id"]]}
    first, second = (
        api.post(
            f"{S}/tenants", {"Name": f"{n} {project['Id']}", "ProjectEnvironments": connected}
        ).json()
        for n in ("Ahead", "Behind")
    )
    create_release(api, project, "1.0.0")

    def deploy_tenant(tenant: dict[str, Any], env: dict[str, Any]) -> Any:
        body = {"ProjectName": project["Name"], "ReleaseVersion": "1.0.0",
                "EnvironmentName": env["Name"], "Tenants": [tenant["Id"]]}  # fmt: skip
        return api.post(f"{S}/deployments/create/tenanted/v1", body)

    untenanted = deploy(api, project, "1.0.0", chain[0]["Name"])
    assert untenanted.status_code == 400  # a Tenanted project needs a tenant
    done = deploy_tenant(first, chain[0]).json()["DeploymentServerTasks"][0]["ServerTaskId"]
    assert wait_task(api, done)["State"] == "Success"
    assert deploy_tenant(second, chain[1]).status_code == 400  # this tenant is still behind
    assert deploy_tenant(first, chain[1]).status_code == 200


def test_a_scheduled_deployment_waits_in_the_queue_until_its_time(
    api: Api, fast: SimInstance
) -> None:
    from datetime import UTC, datetime, timedelta

    project, _ = pipeline_project(api)
    create_release(api, project, "1.0.0")
    later = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
    resp = deploy(api, project, "1.0.0", envs(api)[0]["Name"], RunAt=later)
    task_id = resp.json()["DeploymentServerTasks"][0]["ServerTaskId"]
    task = api.get(f"/api/tasks/{task_id}")
    assert task["State"] == "Queued" and task["QueueTime"][:19] == later[:19]
    assert wait_task(api, task_id)["State"] == "Success"
    bad = deploy(api, project, "1.0.0", envs(api)[0]["Name"], RunAt="next tuesday")
    assert bad.status_code == 400 and "QueueTime" in bad.json()["Errors"][0]


@pytest.mark.parametrize(("answer", "state"), [("Retry", "Success"), ("Fail", "Failed")])
def test_guided_failure_waits_for_an_answer(
    api: Api, fast: SimInstance, answer: str, state: str
) -> None:
    project, _ = pipeline_project(api)
    fast.set_faults(failing_steps={project["Id"]: "Deploy"})
    create_release(api, project, "1.0.0")
    started = deploy(api, project, "1.0.0", envs(api)[0]["Name"], UseGuidedFailure=True).json()
    task_id = started["DeploymentServerTasks"][0]["ServerTaskId"]
    found: list[dict[str, Any]] = []
    for _ in range(100):  # the step fails after its duration, then guided failure asks
        found = api.get(f"{S}/interruptions", params={"regarding": task_id})["Items"]
        if found:
            break
        time.sleep(0.05)
    (intr,) = found
    assert intr["Title"] == "Guided failure: Deploy"
    buttons = intr["Form"]["Elements"][2]["Control"]["Buttons"]
    assert [b["Value"] for b in buttons] == ["Fail", "Retry", "Ignore"]
    path = f"{S}/interruptions/{intr['Id']}"
    api.put(f"{path}/responsible", None)
    assert api.post(f"{path}/submit", {"Result": "Proceed"}).status_code == 400
    assert api.post(f"{path}/submit", {"Result": answer}).status_code == 200
    assert wait_task(api, task_id)["State"] == state
