"""Generated history: tasks and their filters, deployments, the XML feed, the dashboard,
live activity, and agreement with the ground truth."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter
from datetime import UTC, datetime, timedelta

from octosim.testing import SimInstance, SimServer
from tests.octosim.conftest import Api

FINAL = {"Success", "Failed", "Canceled", "TimedOut"}


def test_history_spans_90_days_with_realistic_states(api: Api, sim_instance: SimInstance) -> None:
    tasks = api.get("/api/tasks", params={"take": 2147483647})["Items"]
    states = Counter(t["State"] for t in tasks)
    assert states["Success"] > states["Failed"] > 0
    assert states["Executing"] >= 1 and states["Queued"] >= 1
    assert {"Canceled", "TimedOut"} & set(states)
    queued = [t["QueueTime"] for t in tasks]
    oldest = datetime.fromisoformat(min(queued))
    assert datetime.now(UTC) - oldest > timedelta(days=45)
    assert datetime.now(UTC) - oldest <= timedelta(days=91)
    assert Counter(t["Name"] for t in tasks).keys() == {"Deploy", "Health"}
    for task in tasks:
        if task["Name"] == "Deploy":
            assert task["Arguments"]["DeploymentId"]
        assert task["IsCompleted"] == (task["State"] in FINAL)
        if task["State"] == "Queued":
            assert task["StartTime"] is None and task["CompletedTime"] is None
        if task["State"] in FINAL:
            assert task["CompletedTime"] and task["Completed"]


def test_task_filters(api: Api, sim_instance: SimInstance) -> None:
    every = api.get("/api/tasks", params={"take": 2147483647})
    assert every["TotalCounts"]["Success"] == sum(
        1 for t in every["Items"] if t["State"] == "Success"
    )
    failed = api.get("/api/tasks", params={"states": "Failed,TimedOut", "take": 1000})["Items"]
    assert failed and {t["State"] for t in failed} <= {"Failed", "TimedOut"}
    health = api.get("/api/tasks", params={"name": "Health"})["TotalResults"]
    deploys = api.get("/api/tasks", params={"name": "deploy", "take": 100000})["Items"]
    assert health > 0 and {t["Name"] for t in deploys} == {"Deploy"}
    both = api.get("/api/tasks", params={"name": "Deploy,Health"})["TotalResults"]
    assert both == every["TotalResults"] == health + len(deploys)
    truth = sim_instance.truth()["spaces"]
    assert len(deploys) == sum(f["deployments_total"] for f in truth.values())
    one_space = api.get("/api/tasks", params={"spaces": "Spaces-2", "take": 1000})["Items"]
    assert one_space and {t["SpaceId"] for t in one_space} == {"Spaces-2"}
    assert api.get("/api/Spaces-2/tasks")["TotalResults"] == len(one_space)
    dep = api.get("/api/Spaces-1/deployments", params={"take": 1})["Items"][0]
    by_project = api.get(
        "/api/tasks", params={"project": dep["ProjectId"], "environment": dep["EnvironmentId"]}
    )["Items"]
    assert dep["TaskId"] in {t["Id"] for t in by_project}
    active = api.get("/api/tasks", params={"active": "true"})["Items"]
    assert active and all(not t["IsCompleted"] for t in active)


def test_completed_date_filters(api: Api) -> None:
    now = datetime.now(UTC)
    since = (now - timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%S")
    until = (now - timedelta(days=10)).strftime("%Y-%m-%dT%H:%M:%S")
    window = api.get(
        "/api/tasks",
        params={"fromCompletedDate": since, "toCompletedDate": until, "take": 1000},
    )["Items"]
    assert window
    for task in window:
        done = datetime.fromisoformat(task["CompletedTime"])
        assert (
            now - timedelta(days=30, seconds=1)
            <= done
            <= now - timedelta(days=10) + timedelta(seconds=1)
        )
    bad = api.request("GET", "/api/tasks", params={"fromCompletedDate": "yesterday"})
    assert bad.status_code == 400


def test_truth_matches_what_the_api_reports(api: Api, sim_instance: SimInstance) -> None:
    truth = sim_instance.truth()
    for space_id, facts in truth["spaces"].items():
        assert api.get(f"/api/{space_id}/projects")["TotalResults"] == facts["projects"]
        assert api.get(f"/api/{space_id}/environments")["TotalResults"] == facts["environments"]
        assert api.get(f"/api/{space_id}/tenants")["TotalResults"] == facts["tenants"]
        assert api.get(f"/api/{space_id}/machines")["TotalResults"] == facts["machines"]
        unhealthy = api.get(
            f"/api/{space_id}/machines", params={"healthStatuses": "Unhealthy,Unavailable"}
        )
        assert unhealthy["TotalResults"] == facts["unhealthy_machines"]
        deployments = api.get(f"/api/{space_id}/deployments")["TotalResults"]
        assert deployments == facts["deployments_total"]
        assert sum(row["count"] for row in facts["deployments"]) == deployments
        assert {"date", "environment", "environment_id", "state", "count"} == set(
            facts["deployments"][0]
        )


def test_deployments_xml_feed(api: Api) -> None:
    resp = api.request("GET", "/api/Spaces-1/reporting/deployments/xml")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("application/xml")
    root = ET.fromstring(resp.content)
    rows = root.findall("Deployment")
    assert root.tag == "Deployments" and rows
    assert {r.findtext("TaskState") for r in rows} <= FINAL
    env = rows[0].findtext("EnvironmentId")
    only = ET.fromstring(
        api.request(
            "GET", "/api/Spaces-1/reporting/deployments/xml", params={"environmentId": env}
        ).content
    ).findall("Deployment")
    assert only and all(r.findtext("EnvironmentId") == env for r in only)
    since = (datetime.now(UTC) - timedelta(days=7)).strftime("%Y-%m-%d %H:%M:%S")
    recent = ET.fromstring(
        api.request(
            "GET",
            "/api/Spaces-1/reporting/deployments/xml",
            params={"fromCompletedTime": since},
        ).content
    ).findall("Deployment")
    assert len(recent) < len(rows)


def test_dashboard_has_one_current_item_per_project_and_environment(api: Api) -> None:
    board = api.get("/api/Spaces-1/dashboard")
    keys = [(i["ProjectId"], i["EnvironmentId"], i["TenantId"]) for i in board["Items"]]
    assert keys and len(keys) == len(set(keys))
    assert all(i["IsCurrent"] for i in board["Items"])
    assert len(board["Environments"]) == len(api.get("/api/Spaces-1/environments/all"))


def test_cancel_a_queued_task(api: Api) -> None:
    queued = api.get("/api/tasks", params={"states": "Queued"})["Items"][0]
    canceled = api.post(f"/api/tasks/{queued['Id']}/cancel", None)
    assert canceled.status_code == 200 and canceled.json()["State"] == "Canceled"
    assert api.get(f"/api/tasks/{queued['Id']}")["State"] == "Canceled"


def test_live_activity_adds_running_deployments(api: Api, sim_instance: SimInstance) -> None:
    before = api.get("/api/tasks", params={"take": 0})["TotalResults"]
    sim_instance.add_activity(deployments=3)
    page = api.get("/api/tasks", params={"take": 3})
    assert page["TotalResults"] == before + 3
    assert all(not t["IsCompleted"] for t in page["Items"])  # queued or running right now
    enabled = {p["Id"] for p in api.get("/api/Spaces-1/projects/all") if not p["IsDisabled"]}
    releases = api.get("/api/Spaces-1/releases", params={"take": 100})["Items"]
    release = next(r for r in releases if r["ProjectId"] in enabled)  # disabled ones refuse
    created = api.post(
        "/api/Spaces-1/deployments",
        {
            "ReleaseId": release["Id"],
            "EnvironmentId": api.get("/api/Spaces-1/environments/all")[0]["Id"],
        },
    )
    assert created.status_code == 201, created.text
    task = api.get(created.json()["Links"]["Task"].removeprefix(f"/{sim_instance.slug}"))
    assert task["State"] in ("Queued", "Executing") and task["Name"] == "Deploy"


def test_same_seed_and_name_give_the_same_instance(octosim_server: SimServer) -> None:
    def snapshot(inst: SimInstance) -> tuple[object, ...]:
        truth = inst.truth()
        spaces = {
            sid: (f["name"], f["project_names"], f["machines_by_health"], f["deployments_by_state"])
            for sid, f in truth["spaces"].items()
        }
        return inst.api_key, inst.installation_id, spaces, truth["tasks_total"]

    first = octosim_server.create_instance("seeded", seed=42, spaces=4)
    one = snapshot(first)
    octosim_server.delete_instance(first.slug)
    second = octosim_server.create_instance("seeded", seed=42, spaces=4)
    try:
        assert second.slug == first.slug
        assert snapshot(second) == one
        other = octosim_server.create_instance("seeded-other", seed=42, spaces=4)
        assert snapshot(other) != one
        octosim_server.delete_instance(other.slug)
    finally:
        octosim_server.delete_instance(second.slug)


def test_generated_history_tasks_have_a_step_log_from_their_release(api: Api) -> None:
    done = api.get(
        "/api/Spaces-1/tasks", params={"states": "Success", "name": "Deploy", "take": 300}
    )
    old = [t for t in done["Items"] if t["Arguments"].get("DeploymentId")][-1]  # the oldest
    dep = api.get(f"/api/Spaces-1/deployments/{old['Arguments']['DeploymentId']}")
    process = api.get(f"/api/Spaces-1/deploymentprocesses/{dep['DeploymentProcessId']}")
    details = api.get(f"/api/tasks/{old['Id']}/details")
    children = details["ActivityLogs"][0]["Children"]
    assert [c["Name"] for c in children] == [
        f"Step {n}: {s['Name']}" for n, s in enumerate(process["Steps"], start=1)
    ]
    assert {c["Status"] for c in children} == {"Success"}
    assert details == api.get(f"/api/tasks/{old['Id']}/details")  # the same on every read
    failed = api.get("/api/tasks", params={"states": "Failed", "name": "Deploy", "take": 300})
    statuses = [
        [
            c["Status"]
            for c in api.get(f"/api/tasks/{t['Id']}/details")["ActivityLogs"][0]["Children"]
        ]
        for t in failed["Items"]
    ]
    assert all("Failed" in s for s in statuses)


def test_generated_queued_tasks_are_recent_and_move_on_before_odcm_would_alert() -> None:
    from octosim.instance import Instance
    from octosim.seed import QUEUE_WAIT_MAX

    inst = Instance("queues", "queues", seed=7, spaces=3)
    tasks = list(inst.state.tasks.values())
    start = inst.anchor
    queued = [t for t in tasks if t.state(start) == "Queued"]
    assert queued  # a little work in flight when the instance starts
    assert QUEUE_WAIT_MAX < 15 * 60  # ODCM's default ODCM_QUEUE_ALERT_MINUTES
    for task in queued:
        assert start - task.queue_time < QUEUE_WAIT_MAX  # queued minutes ago, not half an hour
        assert task.start_time is not None
        assert task.start_time - task.queue_time < QUEUE_WAIT_MAX  # and picked up in time
    # Half an hour on, the generated work has moved on: nothing waits in the queue.
    later = start + 30 * 60
    assert [t.id for t in tasks if t.state(later) == "Queued"] == []
