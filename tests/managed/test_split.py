"""Splitting a space: projects and their dependencies copied by name, verified, retired."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from managed.models import Split
from managed.services import projects as P
from managed.services import split as S
from odcm.clients import client_for
from spaces.models import Instance, Space
from spaces.services.octopus_spaces import create_space

from .conftest import by_name, enlist_sim, space_of, wait_for, writes
from .test_templates import SENSITIVE, build_template, edit_step
from .test_workers import FAST

pytestmark = pytest.mark.django_db
LIB_SECRET = "lib-secret-never-shown-4410"


def build_source(inst: Instance, space: str = "Spaces-1") -> None:
    """Web App (process, runbooks, channel, variables) plus what it depends on that a blank
    space lacks: a lifecycle naming environments, a library set with a scoped and a
    sensitive variable, a step template used by a step."""
    build_template(inst, space)
    with client_for(inst) as c:
        envs = {e["Name"]: e["Id"] for e in c.get_all(f"/api/{space}/environments")}
        lifecycle = c.post(
            f"/api/{space}/lifecycles",
            {
                "Name": "Split LC",
                "Phases": [
                    {"Name": "Test", "OptionalDeploymentTargets": [envs["Test"]]},
                    {"Name": "Prod", "OptionalDeploymentTargets": [envs["Production"]]},
                ],
            },
        )
        lvs = c.post(f"/api/{space}/libraryvariablesets", {"Name": "Split Common"})
        vset = c.get(f"/api/{space}/variables/{lvs['VariableSetId']}")
        vset["Variables"] = [
            {"Name": "Common.Url", "Value": "https://c", "Scope": {"Environment": [envs["Test"]]}},
            {"Name": "Common.Key", "Value": LIB_SECRET, "IsSensitive": True, "Type": "Sensitive"},
        ]
        c.put(f"/api/{space}/variables/{vset['Id']}", vset)
        template = c.post(
            f"/api/{space}/actiontemplates",
            {
                "Name": "Split Notify",
                "ActionType": "Octopus.Script",
                "Properties": {"Octopus.Action.Script.ScriptBody": "echo notify"},
            },
        )
        project = next(p for p in c.get_all(f"/api/{space}/projects") if p["Name"] == "Web App")
        project["LifecycleId"] = lifecycle["Id"]
        project["IncludedLibraryVariableSetIds"] = [lvs["Id"]]
        c.put(f"/api/{space}/projects/{project['Id']}", project)
        process = c.get(f"/api/{space}/deploymentprocesses/{project['DeploymentProcessId']}")
        process["Steps"].append(
            {
                "Name": "Notify",
                "Actions": [
                    {
                        "Name": "Notify",
                        "ActionType": "Octopus.Script",
                        "Properties": {"Octopus.Action.Template.Id": template["Id"]},
                    }
                ],
            }
        )
        c.put(f"/api/{space}/deploymentprocesses/{process['Id']}", process)


def project_doc(inst: Instance, space: str, name: str) -> dict[str, Any] | None:
    with client_for(inst) as c:
        project = next((p for p in c.get_all(f"/api/{space}/projects") if p["Name"] == name), None)
        return P.serialize(c, space, project, P.lookups(c, space)) if project else None


def statuses(split: Split) -> dict[str, str]:
    return {f"{d['kind']}/{d['name']}": d["status"] for d in split.plan["dependencies"]}


def test_a_split_into_a_new_space_on_another_instance_is_planned_copied_and_verified(
    make_sim_instance,
):
    source_sim = make_sim_instance(spaces=1, seed=71)
    other_sim = make_sim_instance(spaces=1, seed=72)
    source_inst, other = enlist_sim(source_sim), enlist_sim(other_sim)
    build_source(source_inst)
    source = space_of(source_inst)
    target = create_space(other, name="Web split").space  # the registry's create-space path
    other_sim.reset_stats()
    split = S.create_split(source, target, ["web app"], source_action="disable")
    assert split.status == "planned" and split.projects == ["Web App"]
    plan = statuses(split)
    # A blank space has none of them but the built-in defaults (matched by name).
    for key in (
        "environments/Production",
        "environments/Test",
        "lifecycles/Split LC",
        "libraryvariablesets/Split Common",
        "actiontemplates/Split Notify",
    ):
        assert plan[key] == "copy", key
    assert plan["projectgroups/Default Project Group"] == "exists"
    assert split.plan["projects"][0] | {"status": "copy"} == split.plan["projects"][0]
    assert "Project Web App: Db.Password" in split.needs_values
    assert "Library variable set Split Common: Common.Key" in split.needs_values
    assert SENSITIVE not in str(split.plan) and LIB_SECRET not in str(split.plan)
    assert writes(other_sim) == 0  # planning writes nothing

    assert S.queue_run(split)
    assert S.run_split(str(split.pk)) == "verified"
    split.refresh_from_db()
    assert split.verification == {"Web App": []}
    assert split.source_done == "disabled"
    assert split.intended == {}
    tid = target.octopus_id
    copied = project_doc(other, tid, "Web App")
    original = project_doc(source_inst, "Spaces-1", "Web App")
    assert copied is not None and original is not None
    assert original["Project"]["IsDisabled"] is True  # retired once verified
    assert {k: v for k, v in P.units(copied).items() if k != "project/IsDisabled"} == {
        k: v for k, v in P.units(original).items() if k != "project/IsDisabled"
    }
    assert sorted(r["Name"] for r in copied["Runbooks"]) == ["Backup", "Restart"]
    lc = by_name(other, tid, "lifecycles")["Split LC"]
    envs = {e["Id"]: e["Name"] for e in by_name(other, tid, "environments").values()}
    assert [envs[e] for p in lc["Phases"] for e in p["OptionalDeploymentTargets"]] == [
        "Test",
        "Production",
    ]
    lvs = by_name(other, tid, "libraryvariablesets")["Split Common"]
    with client_for(other) as c:
        lib_vars = {
            v["Name"]: v for v in c.get(f"/api/{tid}/variables/{lvs['VariableSetId']}")["Variables"]
        }
    assert lib_vars["Common.Url"]["Value"] == "https://c"
    assert envs[lib_vars["Common.Url"]["Scope"]["Environment"][0]] == "Test"
    assert lib_vars["Common.Key"]["IsSensitive"] is True
    assert set(split.created) >= {"environments", "lifecycles", "libraryvariablesets"}

    # Done is done: running again does nothing, and a fresh split of the same project is
    # refused because the target now has one by that name (not ours to overwrite).
    other_sim.reset_stats()
    assert S.run_split(str(split.pk)) == "nothing to do"
    again = S.create_split(source, target, ["Web App"])
    assert again.status == "blocked"
    assert "already exists" in again.plan["problems"][0]
    assert not S.queue_run(again)
    assert writes(other_sim) == 0


def test_a_split_into_an_existing_space_deletes_the_source_once_verified(make_sim_instance):
    sim = make_sim_instance(spaces=2, seed=73)
    inst = enlist_sim(sim)
    build_source(inst)
    source, target = space_of(inst), space_of(inst, "Spaces-2")
    split = S.create_split(source, target, ["Web App"], source_action="delete")
    plan = statuses(split)
    assert plan["environments/Production"] == "exists"  # seeded spaces share the names
    assert plan["lifecycles/Split LC"] == "copy"
    assert S.queue_run(split)
    assert S.run_split(str(split.pk)) == "verified"
    split.refresh_from_db()
    assert split.source_done == "deleted"
    assert "Web App" not in by_name(inst, "Spaces-1", "projects")
    assert "Web App" in by_name(inst, "Spaces-2", "projects")
    assert "production" not in split.created.get("environments", [])
    # Bad input: no project, an unknown one, the same space; nothing is kept.
    with pytest.raises(S.SplitError, match="at least one"):
        S.create_split(source, target, [])
    with pytest.raises(S.SplitError, match="No project named 'Nope'"):
        S.create_split(source, target, ["Nope"])
    with pytest.raises(S.SplitError, match="another space"):
        S.create_split(source, source, ["Web App"])
    with pytest.raises(S.SplitError, match="keep, disable or delete"):
        S.create_split(source, target, ["Web App"], source_action="burn")
    assert Split.objects.count() == 1


def test_a_variable_scoped_to_a_channel_follows_the_channel_by_name(make_sim_instance):
    sim = make_sim_instance(spaces=2, seed=74)
    inst = enlist_sim(sim)
    build_source(inst)
    with client_for(inst) as c:
        project = next(p for p in c.get_all("/api/Spaces-1/projects") if p["Name"] == "Web App")
        hotfix = next(ch for ch in c.channels("Spaces-1", project["Id"]) if ch["Name"] == "Hotfix")
        vset = c.get(f"/api/Spaces-1/variables/{project['VariableSetId']}")
        vset["Variables"].append(
            {"Name": "Hotfix.Only", "Value": "1", "Scope": {"Channel": [hotfix["Id"]]}}
        )
        c.put(f"/api/Spaces-1/variables/{vset['Id']}", vset)
    split = S.create_split(space_of(inst), space_of(inst, "Spaces-2"), ["Web App"])
    assert S.queue_run(split)
    assert S.run_split(str(split.pk)) == "verified"
    with client_for(inst) as c:
        copy = next(p for p in c.get_all("/api/Spaces-2/projects") if p["Name"] == "Web App")
        channels = {ch["Id"]: ch["Name"] for ch in c.channels("Spaces-2", copy["Id"])}
        variables = c.get(f"/api/Spaces-2/variables/{copy['VariableSetId']}")["Variables"]
    scoped = next(v for v in variables if v["Name"] == "Hotfix.Only")
    assert [channels[i] for i in scoped["Scope"]["Channel"]] == ["Hotfix"]


def test_a_copy_that_differs_from_its_source_leaves_the_source_alone(make_sim_instance):
    sim = make_sim_instance(spaces=2, seed=78)
    inst = enlist_sim(sim)
    build_source(inst)
    # The target spells an environment differently (Octopus matches names without regard
    # to case): the copy refers to "PRODUCTION" where the source says "Production".
    with client_for(inst) as c:
        prod = next(e for e in c.get_all("/api/Spaces-2/environments") if e["Name"] == "Production")
        c.put(f"/api/Spaces-2/environments/{prod['Id']}", {**prod, "Name": "PRODUCTION"})
    split = S.create_split(
        space_of(inst), space_of(inst, "Spaces-2"), ["Web App"], source_action="delete"
    )
    assert S.queue_run(split)
    assert S.run_split(str(split.pk)) == "mismatch"
    split.refresh_from_db()
    assert split.verification["Web App"], "the comparison found nothing"
    keys = {d["key"] for d in split.verification["Web App"]}
    assert any(k.startswith("variable/App.Url/") and "PRODUCTION" in k for k in keys), keys
    assert split.source_done == ""
    assert "Web App" in by_name(inst, "Spaces-1", "projects")  # not deleted


def test_verify_reports_a_target_edited_after_the_copy(make_sim_instance):
    sim = make_sim_instance(spaces=2, seed=77)
    inst = enlist_sim(sim)
    build_source(inst)
    split = S.create_split(space_of(inst), space_of(inst, "Spaces-2"), ["Web App"])
    S.queue_run(split)
    assert S.run_split(str(split.pk)) == "verified"
    edit_step(inst, "Spaces-2", "Web App", "Deploy", "changed.sh")
    split.refresh_from_db()
    assert S.verify(split) == {"Web App": [{"key": "step/Deploy", "change": "differs"}]}


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_split_creates_nothing_twice(
    make_sim_instance, start_celery_worker, settings
):
    settings.ODCM_MANAGED_CLAIM_SECONDS = 6
    source_sim = make_sim_instance(spaces=1, seed=75)
    target_sim = make_sim_instance(spaces=1, seed=76)
    source_inst, target_inst = enlist_sim(source_sim), enlist_sim(target_sim)
    build_source(source_inst)
    target = create_space(target_inst, name="Split target").space
    split = S.create_split(space_of(source_inst), target, ["Web App"], source_action="disable")
    target_sim.set_faults(latency_ms=250)  # slow enough to be killed between POSTs
    target_sim.reset_stats()
    worker = start_celery_worker(concurrency=1, name="doomed", **FAST)
    assert S.queue_run(split)

    def mid_copy() -> bool:
        return Split.objects.filter(pk=split.pk, status="running").exclude(created={}).exists()

    wait_for(mid_copy, timeout=120, every=0.05)
    worker.kill()
    assert Split.objects.get(pk=split.pk).status == "running"
    target_sim.set_faults(latency_ms=0)
    start_celery_worker(concurrency=1, name="rescuer", **FAST)

    def done() -> bool:
        S.sweep()  # what beat does every ODCM_MANAGED_SWEEP_SECONDS
        return Split.objects.filter(pk=split.pk, status="verified").exists()

    wait_for(done, timeout=180, every=1.0)
    split.refresh_from_db()
    assert split.verification == {"Web App": []}
    tid = target.octopus_id
    posts = Counter(
        key.split("/")[-1]
        for key, n in target_sim.stats()["by_path"].items()
        for _ in range(n)
        if key.startswith(f"POST /api/{tid}/")
    )
    # Each item at most once more than needed (a POST cut off by the kill is counted but
    # may not have landed), and octosim never refused a duplicate name.
    assert posts["projects"] <= 2 and posts["lifecycles"] <= 2
    assert "400" not in target_sim.stats()["by_status"]
    names = Counter(p["Name"] for p in by_name(target_inst, tid, "projects").values())
    assert names == {"Web App": 1}
    assert Space.objects.filter(pk=target.pk).exists()
