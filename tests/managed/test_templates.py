"""Template projects: serialized by name, pushed with overrides, merged three ways."""

from __future__ import annotations

from typing import Any

import pytest

from managed.models import Downstream
from managed.services import projects as P
from managed.services import templates
from odcm.clients import client_for
from spaces.models import Instance

from .conftest import enlist_sim, space_of, writes

pytestmark = pytest.mark.django_db
SENSITIVE = "db-password-never-shown-9911"


def _action(name: str, script: str) -> dict[str, Any]:
    return {
        "Name": name,
        "ActionType": "Octopus.Script",
        "Properties": {"Octopus.Action.Script.ScriptBody": script},
    }


def _step(name: str, script: str) -> dict[str, Any]:
    return {"Name": name, "Actions": [_action(name, script)]}


def build_template(inst: Instance, space: str = "Spaces-1") -> dict[str, Any]:
    """A project with a process, two runbooks, a channel and variables, made over the API."""
    with client_for(inst) as c:
        group = next(
            g
            for g in c.get_all(f"/api/{space}/projectgroups")
            if g["Name"] == "Default Project Group"
        )
        lifecycle = next(
            lc for lc in c.get_all(f"/api/{space}/lifecycles") if lc["Name"] == "Default Lifecycle"
        )
        project = c.post(
            f"/api/{space}/projects",
            {"Name": "Web App", "ProjectGroupId": group["Id"], "LifecycleId": lifecycle["Id"]},
        )
        process = c.get(f"/api/{space}/deploymentprocesses/{project['DeploymentProcessId']}")
        process["Steps"] = [_step("Migrate", "migrate.sh"), _step("Deploy", "deploy.sh")]
        c.put(f"/api/{space}/deploymentprocesses/{process['Id']}", process)
        for name in ("Restart", "Backup"):
            rb = c.post(f"/api/{space}/runbooks", {"Name": name, "ProjectId": project["Id"]})
            rbp = c.get(f"/api/{space}/runbookProcesses/{rb['RunbookProcessId']}")
            rbp["Steps"] = [_step(f"{name} it", f"{name.lower()}.sh")]
            c.put(f"/api/{space}/runbookProcesses/{rbp['Id']}", rbp)
        c.create_channel(space, {"Name": "Hotfix", "ProjectId": project["Id"], "LifecycleId": None})
        prod = next(e for e in c.get_all(f"/api/{space}/environments") if e["Name"] == "Production")
        vset = c.get(f"/api/{space}/variables/{project['VariableSetId']}")
        vset["Variables"] = [
            {"Name": "App.Url", "Value": "https://app.example", "Scope": {}},
            {
                "Name": "App.Url",
                "Value": "https://prod.example",
                "Scope": {"Environment": [prod["Id"]]},
            },
            {"Name": "Db.Password", "Value": SENSITIVE, "IsSensitive": True, "Type": "Sensitive"},
        ]
        c.put(f"/api/{space}/variables/{vset['Id']}", vset)
    return project


def downstream_doc(inst: Instance, space: str, name: str) -> dict[str, Any]:
    with client_for(inst) as c:
        project = next(p for p in c.get_all(f"/api/{space}/projects") if p["Name"] == name)
        return P.serialize(c, space, project, P.lookups(c, space))


def edit_step(inst: Instance, space: str, name: str, step: str, script: str) -> None:
    with client_for(inst) as c:
        project = next(p for p in c.get_all(f"/api/{space}/projects") if p["Name"] == name)
        process = c.get(f"/api/{space}/deploymentprocesses/{project['DeploymentProcessId']}")
        for s in process["Steps"]:
            if s["Name"] == step:
                s["Actions"][0]["Properties"]["Octopus.Action.Script.ScriptBody"] = script
        c.put(f"/api/{space}/deploymentprocesses/{process['Id']}", process)


def push(downstream: Downstream) -> str:
    downstream.refresh_from_db()
    return templates.push_downstream(str(downstream.pk))


@pytest.fixture
def setup(make_sim_instance: Any) -> dict[str, Any]:
    sim = make_sim_instance(spaces=1)
    mgmt = enlist_sim(sim)
    build_template(mgmt)
    template = templates.mark_template(space_of(mgmt), "Web App")
    others = [make_sim_instance(spaces=5, seed=60 + n) for n in range(2)]
    targets = [s for o in others for s in enlist_sim(o).spaces.order_by("octopus_id")]
    return {"sim": sim, "mgmt": mgmt, "template": template, "others": others, "targets": targets}


def test_a_template_with_runbooks_reaches_10_spaces_with_overrides_and_secrets(setup):
    template, targets = setup["template"], setup["targets"]
    assert len(targets) == 10
    doc = template.revisions.get(number=1).document
    assert sorted(r["Name"] for r in doc["Runbooks"]) == ["Backup", "Restart"]
    assert SENSITIVE not in str(doc)
    assert ["Production"] in [v["Scope"].get("Environment") for v in doc["Variables"]]
    templates.set_secret_values(template, {"Db.Password": SENSITIVE})
    rows = []
    for n, space in enumerate(targets):
        overrides: dict[str, Any] = {"variables": {"App.Url": f"https://app-{n}.example"}}
        if n == 0:
            overrides["name"] = "Web App (EU)"
            overrides["disabled_steps"] = ["Migrate"]
        rows.append(templates.add_downstream(template, space, overrides=overrides))
    assert templates.queue_push(template) == 10
    for row in rows:
        assert push(row) == "pushed", row.last_error
    first = rows[0]
    first.refresh_from_db()
    assert first.status == "in_sync" and first.applied_revision == 1 and first.needs_values == []
    got = downstream_doc(first.space.instance, first.space.octopus_id, "Web App (EU)")
    assert [s["Name"] for s in got["Steps"]] == ["Migrate", "Deploy"]
    assert got["Steps"][0]["Actions"][0]["IsDisabled"] is True
    assert {r["Name"]: r["Steps"][0]["Name"] for r in got["Runbooks"]} == {
        "Restart": "Restart it", "Backup": "Backup it"
    }  # fmt: skip
    plain = [v for v in got["Variables"] if v["Name"] == "App.Url" and not v["Scope"]]
    assert plain[0]["Value"] == "https://app-0.example"
    assert "Hotfix" in [c["Name"] for c in got["Channels"]]
    # the sensitive value reached Octopus although nothing ever returns it
    truth = setup["others"][0].truth()["spaces"][first.space.octopus_id]
    assert any(
        v.get("has_value") for vs in truth["variable_sets"].values() for v in vs["sensitive"]
    )
    # a second push of the same revision writes nothing
    for sim in setup["others"]:
        sim.reset_stats()
    templates.queue_push(template)
    assert [push(r) for r in rows] == ["unchanged"] * 10
    assert sum(writes(sim) for sim in setup["others"]) == 0


def test_an_upstream_change_is_merged_while_a_downstream_edit_is_kept_and_a_conflict_resolved(
    setup,
):
    template, mgmt = setup["template"], setup["mgmt"]
    a, b = setup["targets"][:2]
    rows = [templates.add_downstream(template, s) for s in (a, b)]
    templates.queue_push(template)
    assert [push(r) for r in rows] == ["pushed", "pushed"]
    # downstream edits: space a changes Deploy (upstream will not), space b changes Migrate
    edit_step(a.instance, a.octopus_id, "Web App", "Deploy", "deploy.sh --fast")
    edit_step(b.instance, b.octopus_id, "Web App", "Migrate", "migrate.sh --b")
    # upstream changes Migrate
    edit_step(mgmt, "Spaces-1", "Web App", "Migrate", "migrate.sh --v2")
    revision = templates.snapshot(template)
    assert revision is not None and revision.number == 2
    assert templates.diff(template, 1, 2) == [{"key": "step/Migrate", "change": "changed"}]
    assert push(rows[0]) == "pushed"
    got = downstream_doc(a.instance, a.octopus_id, "Web App")
    scripts = {
        s["Name"]: s["Actions"][0]["Properties"]["Octopus.Action.Script.ScriptBody"]
        for s in got["Steps"]
    }
    assert scripts == {"Migrate": "migrate.sh --v2", "Deploy": "deploy.sh --fast"}
    # space b edited the step upstream changed: a conflict, nothing written
    assert push(rows[1]) == "conflict"
    rows[1].refresh_from_db()
    assert rows[1].status == "conflict"
    assert [c["key"] for c in rows[1].conflicts] == ["step/Migrate"]
    assert rows[1].applied_revision == 1
    templates.resolve(rows[1], "step/Migrate", "upstream")
    assert push(rows[1]) == "pushed"
    got = downstream_doc(b.instance, b.octopus_id, "Web App")
    migrate = got["Steps"][0]["Actions"][0]["Properties"]["Octopus.Action.Script.ScriptBody"]
    assert migrate == "migrate.sh --v2"


def test_a_space_missing_a_dependency_gets_that_status_and_no_project(setup):
    template, mgmt = setup["template"], setup["mgmt"]
    with client_for(mgmt) as c:
        lvs = c.post("/api/Spaces-1/libraryvariablesets", {"Name": "DC Common"})
        project = c.get(f"/api/Spaces-1/projects/{template.octopus_project_id}")
        project["IncludedLibraryVariableSetIds"] = [lvs["Id"]]
        c.put(f"/api/Spaces-1/projects/{project['Id']}", project)
    templates.snapshot(template)
    space = setup["targets"][0]
    row = templates.add_downstream(template, space)
    templates.queue_push(template)
    assert push(row) == "missing dependency"
    row.refresh_from_db()
    assert row.status == "missing_dependency" and row.missing == ["libraryvariablesets: DC Common"]
    with client_for(space.instance) as c:
        names = [p["Name"] for p in c.get_all(f"/api/{space.octopus_id}/projects")]
    assert "Web App" not in names


def test_the_api_marks_pushes_and_resolves_and_never_returns_a_sensitive_value(
    setup, admin_user, login
):
    import json

    client = login(admin_user)
    template, space = setup["template"], setup["targets"][0]
    listed = client.get("/api/v1/managed/templates/")
    assert [t["name"] for t in listed.json()["results"]] == ["Web App"]
    base = f"/api/v1/managed/templates/{template.pk}"
    saved = client.post(
        f"{base}/values/", json.dumps({"values": {"Db.Password": SENSITIVE}}),
        content_type="application/json",
    )  # fmt: skip
    assert saved.status_code == 204
    added = client.post(
        f"{base}/downstreams/",
        json.dumps({"space_id": str(space.pk), "overrides": {"name": "Web (API)"}}),
        content_type="application/json",
    )
    assert added.status_code == 201, added.content
    bad = client.post(
        f"{base}/downstreams/",
        json.dumps({"space_id": str(setup["targets"][1].pk), "overrides": {"colour": "red"}}),
        content_type="application/json",
    )
    assert bad.status_code == 400 and "Unknown override" in bad.json()["message"]
    pushed = client.post(f"{base}/push/", "{}", content_type="application/json")
    assert pushed.status_code == 202 and pushed.json() == {"queued": 1}
    row = Downstream.objects.get(pk=added.json()["id"])
    assert push(row) == "pushed"
    detail = client.get(f"/api/v1/managed/downstreams/{row.pk}/")
    assert detail.json()["status"] == "in_sync"
    everything = "".join(
        client.get(u).content.decode()
        for u in (f"{base}/", f"{base}/revisions/", f"{base}/downstreams/", f"{base}/diff/")
    )
    assert SENSITIVE not in everything
    refused = client.post(
        f"/api/v1/managed/downstreams/{row.pk}/resolve/",
        json.dumps({"key": "step/Nope", "choice": "upstream"}),
        content_type="application/json",
    )
    assert refused.status_code == 400 and "No such conflict" in refused.json()["message"]
