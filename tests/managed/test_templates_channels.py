"""Template projects: a channel's tenant tags carried by name, merged three ways and checked
as dependencies; an update push reading each resource kind once (octosim over HTTP)."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import pytest

from managed.services import templates
from odcm.clients import client_for
from spaces.models import Instance, Space

from .conftest import enlist_sim, space_of, writes
from .test_templates import build_template, downstream_doc, push

pytestmark = pytest.mark.django_db


def tag_set(inst: Instance, space: str, name: str, tags: list[str]) -> dict[str, Any]:
    with client_for(inst) as c:
        found = next((t for t in c.get_all(f"/api/{space}/tagsets") if t["Name"] == name), None)
        if found is None:
            saved: dict[str, Any] = c.post(
                f"/api/{space}/tagsets", {"Name": name, "Tags": [{"Name": t} for t in tags]}
            )
            return saved
        found["Tags"] = [*found["Tags"], *({"Name": t} for t in tags)]
        updated: dict[str, Any] = c.put(f"/api/{space}/tagsets/{found['Id']}", found)
        return updated


def channel(inst: Instance, space: str, project: str, name: str) -> dict[str, Any]:
    with client_for(inst) as c:
        pid = next(p for p in c.get_all(f"/api/{space}/projects") if p["Name"] == project)["Id"]
        found: dict[str, Any] = next(ch for ch in c.channels(space, pid) if ch["Name"] == name)
        return found


def set_channel(inst: Instance, space: str, project: str, name: str, **fields: Any) -> None:
    doc = channel(inst, space, project, name)
    with client_for(inst) as c:
        c.update_channel(space, {**doc, **fields})


def project_names(space: Space) -> list[str]:
    with client_for(space.instance) as c:
        return [p["Name"] for p in c.get_all(f"/api/{space.octopus_id}/projects")]


def kinds(sim: Any) -> Counter[str]:
    """Requests per method and resource kind (``GET deploymentprocesses/{id}``)."""
    out: Counter[str] = Counter()
    for key, count in sim.stats()["by_path"].items():
        method, _, path = key.partition(" ")
        parts = [p for p in path.split("?")[0].split("/") if p][1:]
        if parts and re.fullmatch(r"Spaces-\d+", parts[0]):
            parts = parts[1:]
        parts = ["{id}" if re.search(r"-\d+$", p) else p for p in parts]
        out[f"{method} {'/'.join(parts)}"] += count
    return out


@pytest.fixture
def tagged(make_sim_instance: Any) -> dict[str, Any]:
    """A template whose Hotfix channel is tagged Region/EU and Tier/Gold; three spaces."""
    mgmt = enlist_sim(make_sim_instance(spaces=1))
    build_template(mgmt)
    tag_set(mgmt, "Spaces-1", "Tier", ["Gold", "Silver"])
    tag_set(mgmt, "Spaces-1", "Region", ["EU", "US"])
    set_channel(mgmt, "Spaces-1", "Web App", "Hotfix", TenantTags=["Tier/Gold", "Region/EU"])
    template = templates.mark_template(space_of(mgmt), "Web App")
    sim = make_sim_instance(spaces=3, seed=71)
    inst = enlist_sim(sim)
    spaces = list(inst.spaces.order_by("octopus_id"))
    return {"mgmt": mgmt, "template": template, "sim": sim, "inst": inst, "spaces": spaces}


def test_channel_tags_reach_a_space_and_a_space_lacking_a_tag_set_or_tag_gets_no_project(tagged):
    template, inst = tagged["template"], tagged["inst"]
    full, no_set, no_tag = tagged["spaces"]
    hotfix = next(
        c for c in template.revisions.get(number=1).document["Channels"] if c["Name"] == "Hotfix"
    )
    assert hotfix["TenantTags"] == ["Region/EU", "Tier/Gold"]
    # the full space spells its tag set in lower case: the channel gets its spelling
    tag_set(inst, full.octopus_id, "region", ["eu"])
    tag_set(inst, full.octopus_id, "Tier", ["Gold"])
    tag_set(inst, no_set.octopus_id, "Tier", ["Gold"])  # no Region at all
    tag_set(inst, no_tag.octopus_id, "Region", ["US"])  # Region without EU
    tag_set(inst, no_tag.octopus_id, "Tier", ["Gold"])
    rows = [templates.add_downstream(template, s) for s in (full, no_set, no_tag)]
    templates.queue_push(template)
    assert [push(r) for r in rows] == ["pushed", "missing dependency", "missing dependency"]
    for row in rows:
        row.refresh_from_db()
    assert rows[0].status == "in_sync"
    got = channel(inst, full.octopus_id, "Web App", "Hotfix")
    assert sorted(got["TenantTags"]) == ["Tier/Gold", "region/eu"]
    assert rows[1].missing == ["tagsets: Region"]
    assert rows[2].missing == ["tags: Region/EU"]
    # nothing half made where a dependency is missing
    assert "Web App" not in project_names(no_set)
    assert "Web App" not in project_names(no_tag)
    # the tag added, the push goes through; a push again writes nothing
    tag_set(inst, no_tag.octopus_id, "Region", ["EU"])
    templates.queue_push(template)
    assert push(rows[2]) == "pushed"
    assert sorted(channel(inst, no_tag.octopus_id, "Web App", "Hotfix")["TenantTags"]) == [
        "Region/EU",
        "Tier/Gold",
    ]
    tagged["sim"].reset_stats()
    templates.queue_push(template, downstream_ids=[rows[0].pk, rows[2].pk])
    assert [push(rows[0]), push(rows[2])] == ["unchanged", "unchanged"]
    assert writes(tagged["sim"]) == 0


def test_channel_tags_merge_three_ways_beside_other_channel_edits(tagged):
    template, inst, mgmt = tagged["template"], tagged["inst"], tagged["mgmt"]
    a, b, _ = tagged["spaces"]
    for space in (a, b):
        tag_set(inst, space.octopus_id, "Tier", ["Gold", "Silver"])
        tag_set(inst, space.octopus_id, "Region", ["EU", "US"])
    rows = [templates.add_downstream(template, s) for s in (a, b)]
    templates.queue_push(template)
    assert [push(r) for r in rows] == ["pushed", "pushed"]
    # space a edits the channel's description, space b its tags; upstream retags it
    set_channel(inst, a.octopus_id, "Web App", "Hotfix", Description="ours")
    set_channel(inst, b.octopus_id, "Web App", "Hotfix", TenantTags=["Region/US"])
    set_channel(mgmt, "Spaces-1", "Web App", "Hotfix", TenantTags=["Tier/Silver"])
    assert templates.snapshot(template) is not None
    assert templates.diff(template, 1, 2) == [
        {"key": "channel/Hotfix/tenant-tags", "change": "changed"}
    ]
    assert push(rows[0]) == "pushed"
    got = channel(inst, a.octopus_id, "Web App", "Hotfix")
    assert (got["Description"], got["TenantTags"]) == ("ours", ["Tier/Silver"])
    assert push(rows[1]) == "conflict"
    rows[1].refresh_from_db()
    assert [c["key"] for c in rows[1].conflicts] == ["channel/Hotfix/tenant-tags"]
    assert channel(inst, b.octopus_id, "Web App", "Hotfix")["TenantTags"] == ["Region/US"]
    templates.resolve(rows[1], "channel/Hotfix/tenant-tags", "downstream")
    assert push(rows[1]) in ("pushed", "unchanged")
    rows[1].refresh_from_db()
    assert rows[1].status == "in_sync" and rows[1].applied_revision == 2
    assert channel(inst, b.octopus_id, "Web App", "Hotfix")["TenantTags"] == ["Region/US"]
    doc = downstream_doc(inst, b.octopus_id, "Web App")
    assert "Hotfix" in [c["Name"] for c in doc["Channels"]]


def test_an_update_push_reads_each_resource_kind_once(tagged):
    template, inst, mgmt, sim = tagged["template"], tagged["inst"], tagged["mgmt"], tagged["sim"]
    space = tagged["spaces"][0]
    tag_set(inst, space.octopus_id, "Tier", ["Gold", "Silver"])
    tag_set(inst, space.octopus_id, "Region", ["EU", "US"])
    row = templates.add_downstream(template, space)
    templates.queue_push(template)
    assert push(row) == "pushed"
    # upstream changes a step, a runbook step and the channel's tags
    with client_for(mgmt) as c:
        project = c.get(f"/api/Spaces-1/projects/{template.octopus_project_id}")
        process = c.get(f"/api/Spaces-1/deploymentprocesses/{project['DeploymentProcessId']}")
        process["Steps"][0]["Actions"][0]["Properties"]["Octopus.Action.Script.ScriptBody"] = "v2"
        c.put(f"/api/Spaces-1/deploymentprocesses/{process['Id']}", process)
        rb = next(r for r in c.paginate(f"/api/Spaces-1/projects/{project['Id']}/runbooks"))
        rbp = c.get(f"/api/Spaces-1/runbookProcesses/{rb['RunbookProcessId']}")
        rbp["Steps"][0]["Actions"][0]["Properties"]["Octopus.Action.Script.ScriptBody"] = "v2"
        c.put(f"/api/Spaces-1/runbookProcesses/{rbp['Id']}", rbp)
    set_channel(mgmt, "Spaces-1", "Web App", "Hotfix", TenantTags=["Tier/Silver"])
    templates.snapshot(template)
    sim.reset_stats()
    assert push(row) == "pushed"
    counted = kinds(sim)
    reads = {k: n for k, n in counted.items() if k.startswith("GET ")}
    assert max(reads.values()) == 1, reads
    assert counted["PUT deploymentprocesses/{id}"] == 1
    assert counted["PUT runbookProcesses/{id}"] == 1
    assert counted["PUT channels/{id}"] == 1
    got = downstream_doc(inst, space.octopus_id, "Web App")
    script = got["Steps"][0]["Actions"][0]["Properties"]["Octopus.Action.Script.ScriptBody"]
    assert script == "v2"
    assert channel(inst, space.octopus_id, "Web App", "Hotfix")["TenantTags"] == ["Tier/Silver"]
