"""A split carries the moved projects' tenants (with their connections and tag sets) and
their triggers, by name; deployment targets and history stay behind, and the plan says so."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from managed.models import Split
from managed.services import split as S
from odcm.clients import client_for
from spaces.models import Instance

from .conftest import by_name, enlist_sim, space_of, writes
from .test_split import build_source

pytestmark = pytest.mark.django_db


def _post(c: Any, path: str, body: dict[str, Any]) -> dict[str, Any]:
    return dict(c.post(path, body))


def build_world(inst: Instance) -> dict[str, str]:
    """Web App in Spaces-1 with tenants, tag sets and three triggers; Spaces-2 already has
    tenant Globex (connected to its own project) and a Region tag set without EU."""
    build_source(inst)
    with client_for(inst) as c:
        s1, s2 = "/api/Spaces-1", "/api/Spaces-2"
        envs = {e["Name"]: e["Id"] for e in c.get_all(f"{s1}/environments")}
        project = next(p for p in c.get_all(f"{s1}/projects") if p["Name"] == "Web App")
        pid = project["Id"]
        _post(c, f"{s1}/tagsets", {"Name": "Tier", "Tags": [{"Name": "Gold"}, {"Name": "Silver"}]})
        _post(c, f"{s1}/tagsets", {"Name": "Region", "Tags": [{"Name": "EU"}, {"Name": "US"}]})
        _post(c, f"{s1}/tagsets", {"Name": "Size", "Tags": [{"Name": "Large"}]})
        process = c.get(f"{s1}/deploymentprocesses/{project['DeploymentProcessId']}")
        process["Steps"][0]["Actions"][0]["TenantTags"] = ["Size/Large"]  # a step scoped to it
        c.put(f"{s1}/deploymentprocesses/{process['Id']}", process)
        acme = _post(
            c,
            f"{s1}/tenants",
            {
                "Name": "Acme Split",
                "TenantTags": ["Tier/Gold", "Region/EU"],
                "ProjectEnvironments": {pid: [envs["Test"], envs["Production"]]},
            },
        )
        _post(
            c,
            f"{s1}/tenants",
            {
                "Name": "Globex Split",
                "TenantTags": ["Region/EU"],
                "ProjectEnvironments": {pid: [envs["Production"]]},
            },
        )
        _post(c, f"{s1}/tenants", {"Name": "Initech Split"})  # not connected: stays
        runbook = next(
            r for r in c.paginate(f"{s1}/projects/{pid}/runbooks") if r["Name"] == "Restart"
        )
        hotfix = next(ch for ch in c.channels("Spaces-1", pid) if ch["Name"] == "Hotfix")
        triggers = [
            {
                "Name": "Nightly restart",
                "Filter": {"FilterType": "CronExpressionSchedule", "CronExpression": "0 0 2 * * *",
                           "Timezone": "UTC"},
                "Action": {"ActionType": "RunRunbook", "RunbookId": runbook["Id"],
                           "EnvironmentIds": [envs["Production"]], "TenantIds": [acme["Id"]]},
            },
            {
                "Name": "Auto deploy",
                "Filter": {"FilterType": "MachineFilter", "EnvironmentIds": [envs["Production"]],
                           "Roles": ["web"], "EventGroups": ["MachineAvailableForDeployment"]},
                "Action": {"ActionType": "AutoDeploy",
                           "ShouldRedeployWhenMachineHasBeenDeployedTo": True},
            },
            {
                "Name": "Hotfix release",
                "Filter": {"FilterType": "OnceDailySchedule", "StartTime": "2026-01-01T09:00:00",
                           "DaysOfWeek": ["Monday"], "Timezone": "UTC"},
                "Action": {"ActionType": "DeployNewRelease", "EnvironmentId": envs["Test"],
                           "ChannelId": hotfix["Id"], "TenantTags": ["Tier/Gold"]},
            },
        ]  # fmt: skip
        for body in triggers:
            _post(c, f"{s1}/projecttriggers", {**body, "ProjectId": pid})
        # the target: its own project with Globex connected, Region without EU
        t_envs = {e["Name"]: e["Id"] for e in c.get_all(f"{s2}/environments")}
        group = c.get_all(f"{s2}/projectgroups")[0]["Id"]
        lifecycle = c.get_all(f"{s2}/lifecycles")[0]["Id"]
        other = _post(
            c,
            f"{s2}/projects",
            {"Name": "Other Split", "ProjectGroupId": group, "LifecycleId": lifecycle},
        )
        _post(c, f"{s2}/tagsets", {"Name": "Region", "Tags": [{"Name": "US"}]})
        _post(
            c,
            f"{s2}/tenants",
            {
                "Name": "Globex Split",
                "TenantTags": ["Region/US"],
                "ProjectEnvironments": {other["Id"]: [t_envs["Test"]]},
            },
        )
    return {"other": other["Id"]}


def _tenants(inst: Instance, space: str) -> dict[str, Any]:
    with client_for(inst) as c:
        return {t["Name"]: t for t in c.get_all(f"/api/{space}/tenants") if "Split" in t["Name"]}


def test_tenants_tag_sets_and_triggers_are_planned_copied_by_name_and_verified(
    make_sim_instance, admin_user, login
):
    sim = make_sim_instance(spaces=2, seed=81)
    inst = enlist_sim(sim)
    world = build_world(inst)
    split = S.create_split(space_of(inst), space_of(inst, "Spaces-2"), ["Web App"])
    assert split.status == "planned", split.plan["problems"]
    plan = split.plan
    assert {t["name"]: t["status"] for t in plan["tenants"]} == {
        "Acme Split": "copy",
        "Globex Split": "connect",  # exists in the target: the connection is added
    }
    acme = next(t for t in plan["tenants"] if t["name"] == "Acme Split")
    assert acme["projects"] == {"Web App": ["Production", "Test"]}
    assert acme["tags"] == ["Region/EU", "Tier/Gold"]
    deps = {(d["kind"], d["name"]): d for d in plan["dependencies"]}
    assert deps[("tagsets", "Tier")]["status"] == "copy"
    assert deps[("tagsets", "Size")]["status"] == "copy"  # named by a step's tenant tags
    assert deps[("tagsets", "Region")]["status"] == "extend"
    assert deps[("tagsets", "Region")]["add"] == ["EU"]
    assert plan["triggers"] == {"Web App": ["Auto deploy", "Hotfix release", "Nightly restart"]}
    assert plan["counts"]["tenants"] == 2 and plan["counts"]["triggers"] == 3
    said = " ".join(plan["not_carried"])
    assert "Deployment targets" in said or "deployment target(s)" in said
    assert "cannot be moved" in said and "history" in said
    page = login(admin_user).get(reverse("managed:split", args=[split.pk])).content.decode()
    assert 'data-testid="split-not-carried"' in page and "cannot be moved" in page
    assert "Acme Split" in page and "the connections will be added" in page
    assert "tags EU will be added" in page and "Nightly restart" in page

    assert S.queue_run(split)
    assert S.run_split(str(split.pk)) == "verified"
    split.refresh_from_db()
    assert split.verification == {"Web App": []}
    assert split.created["tenants"] == ["acme split"]

    s2 = "Spaces-2"
    envs = {e["Name"]: e["Id"] for e in by_name(inst, s2, "environments").values()}
    project = by_name(inst, s2, "projects")["Web App"]
    tenants = _tenants(inst, s2)
    assert sorted(tenants) == ["Acme Split", "Globex Split"]  # Initech stays, Globex once
    acme_envs = tenants["Acme Split"]["ProjectEnvironments"]
    assert list(acme_envs) == [project["Id"]]
    assert sorted(acme_envs[project["Id"]]) == sorted([envs["Test"], envs["Production"]])
    assert sorted(tenants["Acme Split"]["TenantTags"]) == ["Region/EU", "Tier/Gold"]
    globex = tenants["Globex Split"]
    assert globex["ProjectEnvironments"] == {
        world["other"]: [envs["Test"]],
        project["Id"]: [envs["Production"]],
    }
    assert globex["TenantTags"] == ["Region/US", "Region/EU"]
    tagsets = by_name(inst, s2, "tagsets")
    assert [t["Name"] for t in tagsets["Region"]["Tags"]] == ["US", "EU"]
    assert [t["Name"] for t in tagsets["Tier"]["Tags"]] == ["Gold", "Silver"]

    with client_for(inst) as c:
        triggers = {
            t["Name"]: t for t in c.paginate(f"/api/{s2}/projects/{project['Id']}/triggers")
        }
        runbook = next(
            r
            for r in c.paginate(f"/api/{s2}/projects/{project['Id']}/runbooks")
            if r["Name"] == "Restart"
        )
        hotfix = next(ch for ch in c.channels(s2, project["Id"]) if ch["Name"] == "Hotfix")
    assert sorted(triggers) == ["Auto deploy", "Hotfix release", "Nightly restart"]
    nightly = triggers["Nightly restart"]["Action"]
    assert nightly["RunbookId"] == runbook["Id"]
    assert nightly["EnvironmentIds"] == [envs["Production"]]
    assert nightly["TenantIds"] == [tenants["Acme Split"]["Id"]]
    assert triggers["Hotfix release"]["Action"]["ChannelId"] == hotfix["Id"]
    assert triggers["Hotfix release"]["Action"]["EnvironmentId"] == envs["Test"]
    assert triggers["Auto deploy"]["Filter"]["EnvironmentIds"] == [envs["Production"]]

    # the comparison covers them: a trigger and a tenant connection edited in the copy
    with client_for(inst) as c:
        doc = triggers["Auto deploy"]
        doc["Filter"]["Roles"] = ["db"]
        c.put(f"/api/{s2}/projecttriggers/{doc['Id']}", doc)
        acme_doc = tenants["Acme Split"]
        acme_doc["ProjectEnvironments"][project["Id"]] = [envs["Production"]]
        c.put(f"/api/{s2}/tenants/{acme_doc['Id']}", acme_doc)
    found = {d["key"]: d["change"] for d in S.verify(split)["Web App"]}
    assert found == {"trigger/Auto deploy": "differs", "tenant/Acme Split": "differs"}


def test_running_again_matches_tenants_and_triggers_by_name_and_writes_nothing(
    make_sim_instance,
):
    sim = make_sim_instance(spaces=2, seed=82)
    inst = enlist_sim(sim)
    build_world(inst)
    split = S.create_split(space_of(inst), space_of(inst, "Spaces-2"), ["Web App"])
    assert S.queue_run(split)
    assert S.run_split(str(split.pk)) == "verified"
    # as after a verification that found differences (since fixed by hand): run it again
    Split.objects.filter(pk=split.pk).update(status="mismatch")
    sim.reset_stats()
    assert S.queue_run(split)
    assert S.run_split(str(split.pk)) == "verified"
    assert writes(sim) == 0
    split.refresh_from_db()
    assert split.created["tenants"] == ["acme split"]
    assert {t["name"]: t["status"] for t in split.plan["tenants"]} == {
        "Acme Split": "copy",  # made by this split: still its own
        "Globex Split": "connect",
    }
    assert sorted(_tenants(inst, "Spaces-2")) == ["Acme Split", "Globex Split"]
    project = by_name(inst, "Spaces-2", "projects")["Web App"]
    with client_for(inst) as c:
        names = [t["Name"] for t in c.paginate(f"/api/Spaces-2/projects/{project['Id']}/triggers")]
    assert sorted(names) == ["Auto deploy", "Hotfix release", "Nightly restart"]
