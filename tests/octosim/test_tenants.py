"""Tenants: connections and tags are checked as Octopus checks them."""

from __future__ import annotations

from tests.octosim.conftest import Api

S = "/api/Spaces-1"


def test_a_tenant_naming_a_missing_project_environment_or_tag_is_refused(api: Api) -> None:
    project = api.get(f"{S}/projects/all")[0]["Id"]
    env = api.get(f"{S}/environments/all")[0]["Id"]
    tagset = api.post(f"{S}/tagsets", {"Name": "Tier", "Tags": [{"Name": "Gold"}]}).json()
    assert tagset["Tags"][0]["CanonicalTagName"] == "Tier/Gold"
    bad = api.post(
        f"{S}/tenants",
        {
            "Name": "Acme",
            "TenantTags": ["Tier/Gold", "Tier/Platinum"],
            "ProjectEnvironments": {project: [env, "Environments-999"], "Projects-999": []},
        },
    )
    assert bad.status_code == 400
    text = " ".join(bad.json()["Errors"])
    for part in ("Tier/Platinum", "Environments-999", "Projects-999"):
        assert part in text
    assert "Tier/Gold" not in text
    good = api.post(
        f"{S}/tenants",
        {"Name": "Acme", "TenantTags": ["tier/gold"], "ProjectEnvironments": {project: [env]}},
    )
    assert good.status_code == 201, good.text
    doc = good.json()
    doc["TenantTags"] = ["Nope/Nothing"]
    assert api.put(f"{S}/tenants/{doc['Id']}", doc).status_code == 400
    assert api.get(f"{S}/tenants/{doc['Id']}")["TenantTags"] == ["tier/gold"]
