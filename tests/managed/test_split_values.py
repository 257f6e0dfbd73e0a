"""A split carries the moved projects' tenant variable values (project templates per
environment, library set templates) and their channels' tenant tags, by name; sensitive
values are listed as needing a value, never faked; the verification compares both."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from managed.models import Split
from managed.services import split as S
from odcm.clients import client_for
from spaces.models import Instance

from .conftest import by_name, enlist_sim, space_of, writes
from .test_split_tenants import build_world

pytestmark = pytest.mark.django_db
TENANT_SECRET = "tenant-db-secret-never-shown-8812"
COMMON_SECRET = "common-token-never-shown-2291"
TEXT = {"Octopus.ControlType": "SingleLineText"}
SECRET = {"Octopus.ControlType": "Sensitive"}


def _template(name: str, display: dict[str, str]) -> dict[str, Any]:
    return {"Name": name, "Label": name, "HelpText": "", "DefaultValue": "",
            "DisplaySettings": display}  # fmt: skip


def _ids(templates: list[dict[str, Any]]) -> dict[str, str]:
    return {t["Name"]: t["Id"] for t in templates}


def tenant_values(inst: Instance, space: str, tenant: str) -> dict[str, Any]:
    with client_for(inst) as c:
        found = next(t for t in c.get_all(f"/api/{space}/tenants") if t["Name"] == tenant)
        return dict(c.get(f"/api/{space}/tenants/{found['Id']}/variables"))


def build_values(inst: Instance, *, common_templates: list[str] | None = None) -> None:
    """On top of :func:`build_world`: Web App's variable templates and Split Common's, the
    tenants' values (a sensitive one each), the Hotfix channel's tenant tags. With
    ``common_templates`` the target already has a Split Common with those templates, used by
    its own project, and its Globex holds another Common.Region there."""
    build_world(inst)
    s1, s2 = "/api/Spaces-1", "/api/Spaces-2"
    with client_for(inst) as c:
        envs = {e["Name"]: e["Id"] for e in c.get_all(f"{s1}/environments")}
        project = next(p for p in c.get_all(f"{s1}/projects") if p["Name"] == "Web App")
        project["Templates"] = [
            _template("Tenant.Url", TEXT),
            _template("Tenant.DbPassword", SECRET),
        ]
        project = c.put(f"{s1}/projects/{project['Id']}", project)
        lvs = next(s for s in c.get_all(f"{s1}/libraryvariablesets") if s["Name"] == "Split Common")
        lvs["Templates"] = [
            _template("Common.Region", TEXT),
            _template("Common.Tier", TEXT),
            _template("Common.Token", SECRET),
        ]
        lvs = c.put(f"{s1}/libraryvariablesets/{lvs['Id']}", lvs)
        p_ids, l_ids = _ids(project["Templates"]), _ids(lvs["Templates"])
        tenants = {t["Name"]: t for t in c.get_all(f"{s1}/tenants")}
        acme = c.get(f"{s1}/tenants/{tenants['Acme Split']['Id']}/variables")
        acme["ProjectVariables"][project["Id"]]["Variables"] = {
            envs["Test"]: {p_ids["Tenant.Url"]: "https://acme-test.example"},
            envs["Production"]: {
                p_ids["Tenant.Url"]: "https://acme.example",
                p_ids["Tenant.DbPassword"]: {"HasValue": True, "NewValue": TENANT_SECRET},
            },
        }
        acme["LibraryVariables"][lvs["Id"]]["Variables"] = {
            l_ids["Common.Region"]: "EU",
            l_ids["Common.Token"]: {"HasValue": True, "NewValue": COMMON_SECRET},
        }
        c.put(f"{s1}/tenants/{acme['TenantId']}/variables", acme)
        globex = c.get(f"{s1}/tenants/{tenants['Globex Split']['Id']}/variables")
        globex["ProjectVariables"][project["Id"]]["Variables"] = {
            envs["Production"]: {p_ids["Tenant.Url"]: "https://globex.example"}
        }
        globex["LibraryVariables"][lvs["Id"]]["Variables"] = {
            l_ids["Common.Region"]: "APAC",
            l_ids["Common.Tier"]: "Gold",
        }
        c.put(f"{s1}/tenants/{globex['TenantId']}/variables", globex)
        hotfix = next(ch for ch in c.channels("Spaces-1", project["Id"]) if ch["Name"] == "Hotfix")
        c.update_channel("Spaces-1", {**hotfix, "TenantTags": ["Tier/Gold", "Region/EU"]})
        if common_templates is None:
            return
        theirs = c.post(
            f"{s2}/libraryvariablesets",
            {"Name": "Split Common", "Templates": [_template(n, TEXT) for n in common_templates]},
        )
        other = next(p for p in c.get_all(f"{s2}/projects") if p["Name"] == "Other Split")
        c.put(
            f"{s2}/projects/{other['Id']}",
            {**other, "IncludedLibraryVariableSetIds": [theirs["Id"]]},
        )
        t_globex = next(t for t in c.get_all(f"{s2}/tenants") if t["Name"] == "Globex Split")
        doc = c.get(f"{s2}/tenants/{t_globex['Id']}/variables")
        doc["LibraryVariables"][theirs["Id"]]["Variables"] = {
            _ids(theirs["Templates"])["Common.Region"]: "US"
        }
        c.put(f"{s2}/tenants/{t_globex['Id']}/variables", doc)


def _plan(split: Split) -> dict[tuple[str, str, str], str]:
    return {
        (v["tenant"], v["where"], v["template"]): v["status"]
        for v in split.plan["tenant_variables"]
    }


def test_tenant_values_and_channel_tags_are_planned_copied_by_name_and_verified(
    make_sim_instance, admin_user, login
):
    sim = make_sim_instance(spaces=2, seed=91)
    inst = enlist_sim(sim)
    build_values(inst)
    split = S.create_split(space_of(inst), space_of(inst, "Spaces-2"), ["Web App"])
    assert split.status == "planned", split.plan["problems"]
    assert _plan(split) == {
        ("Acme Split", "Web App / Production", "Tenant.DbPassword"): "needs_value",
        ("Acme Split", "Web App / Production", "Tenant.Url"): "copy",
        ("Acme Split", "Web App / Test", "Tenant.Url"): "copy",
        ("Acme Split", "Split Common", "Common.Region"): "copy",
        ("Acme Split", "Split Common", "Common.Token"): "needs_value",
        ("Globex Split", "Web App / Production", "Tenant.Url"): "copy",
        ("Globex Split", "Split Common", "Common.Region"): "copy",
        ("Globex Split", "Split Common", "Common.Tier"): "copy",
    }
    assert split.plan["channel_tags"] == {"Web App": {"Hotfix": ["Region/EU", "Tier/Gold"]}}
    assert "Tenant Acme Split: Web App / Production: Tenant.DbPassword" in split.needs_values
    assert "Tenant Acme Split: Split Common: Common.Token" in split.needs_values
    for secret in (TENANT_SECRET, COMMON_SECRET):
        assert secret not in str(split.plan)
    page = login(admin_user).get(reverse("managed:split", args=[split.pk])).content.decode()
    assert 'data-testid="split-tenant-variables"' in page and "Tenant.Url" in page
    assert "sensitive: needs a value in this space" in page
    assert 'data-testid="split-channel-tags"' in page and "Hotfix: Region/EU, Tier/Gold" in page
    assert TENANT_SECRET not in page and COMMON_SECRET not in page

    assert S.queue_run(split)
    assert S.run_split(str(split.pk)) == "verified"
    split.refresh_from_db()
    assert split.verification == {"Web App": []}

    s2 = "Spaces-2"
    envs = {e["Name"]: e["Id"] for e in by_name(inst, s2, "environments").values()}
    project = by_name(inst, s2, "projects")["Web App"]
    lvs = by_name(inst, s2, "libraryvariablesets")["Split Common"]
    p_ids, l_ids = _ids(project["Templates"]), _ids(lvs["Templates"])
    assert sorted(l_ids) == ["Common.Region", "Common.Tier", "Common.Token"]  # templates too
    acme = tenant_values(inst, s2, "Acme Split")
    values = acme["ProjectVariables"][project["Id"]]["Variables"]
    assert values[envs["Test"]] == {p_ids["Tenant.Url"]: "https://acme-test.example"}
    assert values[envs["Production"]] == {p_ids["Tenant.Url"]: "https://acme.example"}
    assert acme["LibraryVariables"][lvs["Id"]]["Variables"] == {l_ids["Common.Region"]: "EU"}
    globex = tenant_values(inst, s2, "Globex Split")
    assert globex["ProjectVariables"][project["Id"]]["Variables"][envs["Production"]] == {
        p_ids["Tenant.Url"]: "https://globex.example"
    }
    assert globex["LibraryVariables"][lvs["Id"]]["Variables"] == {
        l_ids["Common.Region"]: "APAC",
        l_ids["Common.Tier"]: "Gold",
    }
    with client_for(inst) as c:
        hotfix = next(ch for ch in c.channels(s2, project["Id"]) if ch["Name"] == "Hotfix")
    assert sorted(hotfix["TenantTags"]) == ["Region/EU", "Tier/Gold"]
    tagsets = by_name(inst, s2, "tagsets")
    assert {t["Name"] for t in tagsets["Region"]["Tags"]} == {"US", "EU"}

    # The comparison covers them: a value and a channel's tags edited in the copy.
    with client_for(inst) as c:
        acme["ProjectVariables"][project["Id"]]["Variables"][envs["Test"]] = {
            p_ids["Tenant.Url"]: "https://edited.example"
        }
        c.put(f"/api/{s2}/tenants/{acme['TenantId']}/variables", acme)
        c.update_channel(s2, {**hotfix, "TenantTags": ["Tier/Gold"]})
    found = {d["key"]: d["change"] for d in S.verify(split)["Web App"]}
    assert found == {
        "tenant/Acme Split/values": "differs",
        "channel/Hotfix/tenant-tags": "differs",
    }

    # Run again: the copy is repaired; once more, and nothing is written.
    Split.objects.filter(pk=split.pk).update(status="mismatch")
    assert S.queue_run(split)
    assert S.run_split(str(split.pk)) == "verified"
    Split.objects.filter(pk=split.pk).update(status="mismatch")
    sim.reset_stats()
    assert S.queue_run(split)
    assert S.run_split(str(split.pk)) == "verified"
    assert writes(sim) == 0
    split.refresh_from_db()
    assert {s for s in _plan(split).values()} == {"exists", "needs_value"}


def test_a_tenant_already_in_the_target_keeps_its_own_library_set_values(make_sim_instance):
    sim = make_sim_instance(spaces=2, seed=92)
    inst = enlist_sim(sim)
    build_values(inst, common_templates=["Common.Region"])
    split = S.create_split(space_of(inst), space_of(inst, "Spaces-2"), ["Web App"])
    deps = {(d["kind"], d["name"]): d["status"] for d in split.plan["dependencies"]}
    assert deps[("libraryvariablesets", "Split Common")] == "exists"
    plan = _plan(split)
    assert plan[("Globex Split", "Split Common", "Common.Region")] == "kept"
    assert plan[("Globex Split", "Split Common", "Common.Tier")] == "no_template"
    assert plan[("Acme Split", "Split Common", "Common.Region")] == "copy"  # a new tenant

    assert S.queue_run(split)
    assert S.run_split(str(split.pk)) == "mismatch"  # the source is left alone
    split.refresh_from_db()
    found = {d["key"]: d["change"] for d in split.verification["Web App"]}
    assert found == {"tenant/Globex Split/common/Split Common": "differs"}
    assert split.source_done == ""
    lvs = by_name(inst, "Spaces-2", "libraryvariablesets")["Split Common"]
    region = _ids(lvs["Templates"])["Common.Region"]
    globex = tenant_values(inst, "Spaces-2", "Globex Split")
    assert globex["LibraryVariables"][lvs["Id"]]["Variables"] == {region: "US"}
    acme = tenant_values(inst, "Spaces-2", "Acme Split")
    assert acme["LibraryVariables"][lvs["Id"]]["Variables"] == {region: "EU"}
