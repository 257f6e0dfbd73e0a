"""Tag sets, worker pools and Git credentials behave as Octopus's do."""

from __future__ import annotations

from octosim.testing import SimInstance

from .conftest import Api

S = "/api/Spaces-1"


def test_a_new_space_has_a_default_worker_pool_and_pools_are_unique_by_name(
    sim_instance: SimInstance,
) -> None:
    api = Api(sim_instance)
    pools = api.get(f"{S}/workerpools/all")
    # one default pool (seeded spaces also hold a dynamic "Hosted Ubuntu" for shared variables)
    assert [p["Name"] for p in pools if p["IsDefault"]] == ["Default Worker Pool"]
    assert len({p["Name"] for p in pools}) == len(pools)
    assert api.post(f"{S}/workerpools", {"Name": "Linux"}).status_code == 201
    again = api.post(f"{S}/workerpools", {"Name": "linux"})
    assert again.status_code == 400
    assert "already exists" in again.text


def test_tags_get_ids_and_canonical_names_and_a_duplicate_tag_is_refused(
    sim_instance: SimInstance,
) -> None:
    api = Api(sim_instance)
    body = {"Name": "Tier", "Tags": [{"Name": "Gold", "Color": "#FFD700"}, {"Name": "Silver"}]}
    created = api.post(f"{S}/tagsets", body)
    assert created.status_code == 201, created.text
    tags = created.json()["Tags"]
    assert [t["CanonicalTagName"] for t in tags] == ["Tier/Gold", "Tier/Silver"]
    assert all(t["Id"] for t in tags)
    doc = created.json()
    doc["Tags"].append({"Name": "gold"})
    refused = api.request("PUT", f"{S}/tagsets/{doc['Id']}", json=doc)
    assert refused.status_code == 400
    assert len(api.get(f"{S}/tagsets/{doc['Id']}")["Tags"]) == 2


def test_a_git_credential_password_is_kept_but_never_returned(sim_instance: SimInstance) -> None:
    api = Api(sim_instance)
    secret = "hunter2-never-shown"
    body = {
        "Name": "GitHub",
        "Details": {
            "Type": "UsernamePassword",
            "Username": "x-access-token",
            "Password": {"HasValue": True, "NewValue": secret},
        },
    }
    created = api.post(f"{S}/git-credentials", body)
    assert created.status_code == 201, created.text
    doc = created.json()
    assert doc["Details"]["Password"] == {"HasValue": True, "NewValue": None, "Hint": None}
    doc["Description"] = "changed"  # a write without NewValue keeps the password
    assert api.request("PUT", f"{S}/git-credentials/{doc['Id']}", json=doc).status_code == 200
    listed = api.client.get(f"{S}/git-credentials").text
    assert secret not in listed
    assert api.get(f"{S}/git-credentials/{doc['Id']}")["Details"]["Password"]["HasValue"]
    bad = api.post(f"{S}/git-credentials", {"Name": "x", "Details": {"Type": "Ssh"}})
    assert bad.status_code == 400


def test_a_feed_password_is_kept_but_never_returned(sim_instance: SimInstance) -> None:
    api = Api(sim_instance)
    body = {
        "Name": "Private NuGet",
        "FeedType": "NuGet",
        "FeedUri": "https://nuget.example/v3/index.json",
        "Username": "reader",
        "Password": {"HasValue": True, "NewValue": "feed-secret-1"},
    }
    created = api.post(f"{S}/feeds", body)
    assert created.status_code == 201, created.text
    assert "feed-secret-1" not in created.text
    assert created.json()["Password"]["HasValue"] is True
