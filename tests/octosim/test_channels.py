"""Channels: tenant tags (``TenantTags`` on Octopus's ChannelResource) kept and checked."""

from __future__ import annotations

from tests.octosim.conftest import Api

S = "/api/Spaces-1"


def _project(api: Api) -> str:
    return str(api.get(f"{S}/projects/all")[0]["Id"])


def test_a_channel_keeps_its_tenant_tags_and_returns_them_in_every_listing(api: Api) -> None:
    api.post(f"{S}/tagsets", {"Name": "Tier", "Tags": [{"Name": "Gold"}, {"Name": "Silver"}]})
    project = _project(api)
    made = api.post(
        f"{S}/channels",
        {"Name": "Hotfix", "ProjectId": project, "TenantTags": ["Tier/Gold", "tier/silver"]},
    )
    assert made.status_code == 201, made.text
    channel = made.json()
    assert channel["TenantTags"] == ["Tier/Gold", "tier/silver"]
    assert api.get(f"{S}/channels/{channel['Id']}")["TenantTags"] == ["Tier/Gold", "tier/silver"]
    listed = api.get(f"{S}/projects/{project}/channels")["Items"]
    assert next(c for c in listed if c["Id"] == channel["Id"])["TenantTags"] == [
        "Tier/Gold",
        "tier/silver",
    ]
    changed = api.put(f"{S}/channels/{channel['Id']}", {**channel, "TenantTags": ["Tier/Silver"]})
    assert changed.status_code == 200, changed.text
    assert api.get(f"{S}/channels/{channel['Id']}")["TenantTags"] == ["Tier/Silver"]


def test_a_channel_naming_a_missing_tag_is_refused_and_nothing_is_written(api: Api) -> None:
    api.post(f"{S}/tagsets", {"Name": "Tier", "Tags": [{"Name": "Gold"}]})
    project = _project(api)
    before = len(api.get(f"{S}/channels/all"))
    bad = api.post(
        f"{S}/channels",
        {"Name": "Hotfix", "ProjectId": project, "TenantTags": ["Tier/Gold", "Region/EU"]},
    )
    assert bad.status_code == 400
    errors = " ".join(bad.json()["Errors"])
    assert "Region/EU" in errors and "Tier/Gold" not in errors
    assert len(api.get(f"{S}/channels/all")) == before
    assert (
        api.post(
            f"{S}/channels", {"Name": "X", "ProjectId": project, "TenantTags": "Tier/Gold"}
        ).status_code
        == 400
    )
    good = api.post(f"{S}/channels", {"Name": "Hotfix", "ProjectId": project}).json()
    refused = api.put(f"{S}/channels/{good['Id']}", {**good, "TenantTags": ["Tier/Platinum"]})
    assert refused.status_code == 400 and "Tier/Platinum" in refused.text
    assert api.get(f"{S}/channels/{good['Id']}")["TenantTags"] == []
