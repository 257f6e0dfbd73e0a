"""The release pipeline through the client against octosim over real HTTP: processes,
releases and their frozen snapshots, channels and refusals."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from octopus import (
    DuplicateVersion,
    MissingPackage,
    NotFound,
    ValidationFailed,
    VersionConflict,
)

from .pipeline_helpers import QUICK_POLL, SPACE, client, make_pipeline, script_step

# -- deployment processes ----------------------------------------------------------------


def test_process_edit_round_trips_and_a_stale_edit_is_a_version_conflict(
    fast_sim: Any, tmp_path: Path
) -> None:
    with client(fast_sim) as c:
        pipe = make_pipeline(c, tmp_path)
        read = c.project_deployment_process(SPACE, pipe.project["Id"])
        assert read["Id"] == pipe.project["DeploymentProcessId"]
        assert [s["Name"] for s in read["Steps"]] == ["Deploy web", "Smoke test"]
        assert all(s["Id"] and s["Actions"][0]["Id"] for s in read["Steps"])  # ids assigned
        ref = read["Steps"][0]["Actions"][0]["Packages"][0]
        assert (ref["PackageId"], ref["FeedId"]) == (pipe.package_id, "feeds-builtin")

        edited = copy.deepcopy(read)
        edited["Steps"].append(script_step("Notify"))
        saved = c.update_deployment_process(SPACE, edited)
        assert saved["Version"] == read["Version"] + 1
        assert c.deployment_process(SPACE, read["Id"])["Steps"][:2] == read["Steps"]

        stale = copy.deepcopy(read)  # still carries the old Version
        stale["Steps"].pop()
        with pytest.raises(VersionConflict) as conflict:
            c.update_deployment_process(SPACE, stale)
        assert conflict.value.status_code == 400
        assert len(c.deployment_process(SPACE, read["Id"])["Steps"]) == 3

        broken = c.deployment_process(SPACE, read["Id"])
        broken["Steps"].append({"Name": "Empty", "Actions": []})
        with pytest.raises(ValidationFailed, match="at least one action"):
            c.update_deployment_process(SPACE, broken)


# -- releases and snapshots -------------------------------------------------------------------


def test_release_through_the_executions_api_selects_package_versions_and_freezes_snapshots(
    fast_sim: Any, tmp_path: Path
) -> None:
    with client(fast_sim) as c:
        pipe = make_pipeline(c, tmp_path, versions=("1.0.0", "1.1.0"))
        variables = c.variable_set(SPACE, pipe.project["VariableSetId"])
        variables["Variables"].append({"Name": "Greeting", "Value": "hello", "Type": "String"})
        c.update_variable_set(SPACE, variables)

        created = c.create_release_v1(
            SPACE, pipe.name, version="2.0.0", packages=["Deploy web:1.0.0"],
            release_notes="first",
        )  # fmt: skip
        assert created.version == "2.0.0"
        release = c.release(SPACE, created.release_id)
        assert release["ReleaseNotes"] == "first"
        assert [(p["ActionName"], p["Version"]) for p in release["SelectedPackages"]] == [
            ("Deploy web", "1.0.0")
        ]
        before = c.release_snapshots(SPACE, release)
        assert [s["Name"] for s in before.deployment_process["Steps"]] == [
            "Deploy web",
            "Smoke test",
        ]
        assert any(v["Name"] == "Greeting" for v in before.project_variables["Variables"])

        # Change the live process and variables: the release's snapshots stay as they were.
        live = c.project_deployment_process(SPACE, pipe.project["Id"])
        live["Steps"] = [script_step("Only step")]
        c.update_deployment_process(SPACE, live)
        live_vars = c.variable_set(SPACE, pipe.project["VariableSetId"])
        live_vars["Variables"] = []
        c.update_variable_set(SPACE, live_vars)
        after = c.release_snapshots(SPACE, c.release(SPACE, created.release_id))
        assert after == before

        latest = c.create_release_v1(SPACE, pipe.name, version="2.0.1", package_version="1.1.0")
        listed = c.project_releases(SPACE, pipe.project["Id"], search_by_version="2.0")
        assert {r["Id"] for r in listed} == {created.release_id, latest.release_id}


def test_duplicate_release_versions_are_refused_unless_ignored(
    fast_sim: Any, tmp_path: Path
) -> None:
    with client(fast_sim) as c:
        pipe = make_pipeline(c, tmp_path)
        first = c.create_release_v1(SPACE, pipe.name, version="3.0.0", package_version="1.0.0")
        with pytest.raises(DuplicateVersion):
            c.create_release_v1(SPACE, pipe.name, version="3.0.0", package_version="1.0.0")
        again = c.create_release_v1(
            SPACE, pipe.name, version="3.0.0", package_version="1.0.0", ignore_if_exists=True
        )
        assert again.release_id == first.release_id
        with pytest.raises(DuplicateVersion):
            c.create_release(
                SPACE, {"ProjectId": pipe.project["Id"], "Version": "3.0.0", "SelectedPackages": []}
            )


def test_a_package_version_missing_from_the_feed_is_refused(fast_sim: Any, tmp_path: Path) -> None:
    with client(fast_sim) as c:
        pipe = make_pipeline(c, tmp_path)
        with pytest.raises(MissingPackage) as missing:
            c.create_release_v1(SPACE, pipe.name, version="4.0.0", packages=["Deploy web:9.9.9"])
        assert pipe.package_id in str(missing.value)
        assert c.project_releases(SPACE, pipe.project["Id"]) == []


def test_a_release_in_a_new_channel_follows_the_channel(fast_sim: Any, tmp_path: Path) -> None:
    with client(fast_sim) as c:
        pipe = make_pipeline(c, tmp_path)
        default = [ch for ch in c.channels(SPACE, pipe.project["Id"]) if ch["IsDefault"]]
        assert len(default) == 1
        hotfix = c.create_channel(
            SPACE,
            {"Name": "Hotfix", "ProjectId": pipe.project["Id"], "LifecycleId": None,
             "Description": "urgent fixes", "IsDefault": False, "Rules": []},
        )  # fmt: skip
        assert c.channel(SPACE, hotfix["Id"])["Name"] == "Hotfix"
        hotfix["Description"] = "still urgent"
        assert c.update_channel(SPACE, hotfix)["Description"] == "still urgent"
        created = c.create_release_v1(
            SPACE, pipe.name, channel="Hotfix", version="5.0.0-hotfix", package_version="1.0.0"
        )
        assert c.release(SPACE, created.release_id)["ChannelId"] == hotfix["Id"]
        names = {ch["Name"] for ch in c.channels(SPACE, pipe.project["Id"])}
        assert names == {"Default", "Hotfix"}


def test_variables_can_be_snapshotted_again_and_a_release_deleted(
    fast_sim: Any, tmp_path: Path
) -> None:
    with client(fast_sim) as c:
        pipe = make_pipeline(c, tmp_path)
        created = c.create_release_v1(SPACE, pipe.name, version="1.0.0", package_version="1.0.0")
        first = c.release(SPACE, created.release_id)
        variables = c.variable_set(SPACE, pipe.project["VariableSetId"])
        variables["Variables"].append({"Name": "Later", "Value": "x", "Type": "String"})
        c.update_variable_set(SPACE, variables)
        assert "Later" not in {
            v["Name"] for v in c.release_snapshots(SPACE, first).project_variables["Variables"]
        }
        again = c.snapshot_release_variables(SPACE, created.release_id)
        assert again["ProjectVariableSetSnapshotId"] != first["ProjectVariableSetSnapshotId"]
        assert (
            again["ProjectDeploymentProcessSnapshotId"]
            == first["ProjectDeploymentProcessSnapshotId"]
        )
        fresh = c.release_snapshots(SPACE, c.release(SPACE, created.release_id))
        assert "Later" in {v["Name"] for v in fresh.project_variables["Variables"]}

        c.delete_release(SPACE, created.release_id)
        with pytest.raises(NotFound):
            c.release(SPACE, created.release_id)


def test_the_classic_release_and_deployment_calls_work_by_id(fast_sim: Any, tmp_path: Path) -> None:
    with client(fast_sim) as c:
        pipe = make_pipeline(c, tmp_path)
        channel = next(ch for ch in c.channels(SPACE, pipe.project["Id"]) if ch["IsDefault"])
        release = c.create_release(
            SPACE,
            {"ProjectId": pipe.project["Id"], "ChannelId": channel["Id"], "Version": "7.0.0",
             "SelectedPackages": [{"ActionName": "Deploy web", "Version": "1.0.0"}]},
        )  # fmt: skip
        assert [(p["ActionName"], p["Version"]) for p in release["SelectedPackages"]] == [
            ("Deploy web", "1.0.0")
        ]
        deployment = c.create_deployment(
            SPACE,
            {"ReleaseId": release["Id"], "EnvironmentId": pipe.environments["Development"],
             "SkipActions": []},
        )  # fmt: skip
        done = c.wait_for_tasks([deployment["TaskId"]], SPACE, policy=QUICK_POLL)
        assert done[deployment["TaskId"]].state == "Success"
        assert c.task(deployment["TaskId"]).finished_successfully
