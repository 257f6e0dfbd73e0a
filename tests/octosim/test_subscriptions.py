"""Event subscriptions, the default retention setting and the built-in sign-in providers."""

from __future__ import annotations

from tests.octosim.conftest import Api

S = "/api/Spaces-1/subscriptions"


def _body(name: str, **nested: object) -> dict[str, object]:
    return {"Name": name, "EventNotificationSubscription": nested}


def test_a_subscription_is_created_with_octopus_defaults_and_read_in_every_form(
    api: Api, ro_api: Api
) -> None:
    resp = api.post(
        S,
        _body(
            "Failed deployments",
            Filter={"EventGroups": ["DeploymentFailed"], "EventCategories": ["DeploymentFailed"]},
            WebhookURI="https://hooks.example/octopus",
            EmailTeams=["teams-administrators"],
            EmailPriority="High",
        ),
    )
    assert resp.status_code == 201, resp.text
    doc = resp.json()
    assert doc["Id"].startswith("Subscriptions-") and doc["Type"] == "Event"
    assert doc["SpaceId"] == "Spaces-1" and doc["IsDisabled"] is False
    nested = doc["EventNotificationSubscription"]
    assert nested["EmailFrequencyPeriod"] == "01:00:00" and nested["WebhookTimeout"] == "00:00:10"
    assert nested["EmailPriority"] == "High" and nested["EmailTeams"] == ["teams-administrators"]
    assert nested["Filter"]["EventGroups"] == ["DeploymentFailed"]
    assert nested["Filter"]["Projects"] == []
    assert api.get(f"/api/spaces/Spaces-1/subscriptions/{doc['Id']}")["Name"] == doc["Name"]
    assert [d["Id"] for d in ro_api.get(f"{S}/all")] == [doc["Id"]]
    assert api.get("/api/Spaces-2/subscriptions")["TotalResults"] == 0
    # a read-only key may not create one; the same name twice is refused
    assert ro_api.post(S, _body("Other")).status_code == 403
    again = api.post(S, _body("failed DEPLOYMENTS"))
    assert again.status_code == 400 and "already exists" in again.text


def test_a_bad_subscription_is_refused_whole_and_an_update_keeps_unsent_fields(api: Api) -> None:
    bad = api.post(
        S,
        _body(
            "Bad",
            Filter={"Environments": ["Environments-9999"]},
            EmailPriority="Urgent",
            WebhookTimeout="ten seconds",
            EmailTeams=["teams-nope"],
        ),
    )
    assert bad.status_code == 400
    errors = " ".join(bad.json()["Errors"])
    for part in ("Environments-9999", "EmailPriority", "WebhookTimeout", "teams-nope"):
        assert part in errors
    assert api.get(f"{S}/all") == []
    made = api.post(S, _body("Hook", WebhookURI="https://a.example/x", WebhookHeaderKey="K"))
    ident = made.json()["Id"]
    doc = api.get(f"{S}/{ident}")
    doc["EventNotificationSubscription"] = {"WebhookURI": "https://b.example/y"}
    doc["IsDisabled"] = True
    saved = api.put(f"{S}/{ident}", doc)
    assert saved.status_code == 200, saved.text
    nested = api.get(f"{S}/{ident}")["EventNotificationSubscription"]
    assert nested["WebhookURI"] == "https://b.example/y" and nested["WebhookHeaderKey"] == "K"
    assert api.get(f"{S}/{ident}")["IsDisabled"] is True
    assert api.put(f"{S}/{ident}", {**doc, "Type": "Webhook"}).status_code == 400
    assert api.delete(f"{S}/{ident}").status_code == 200
    assert api.request("GET", f"{S}/{ident}").status_code == 404


def test_default_retention_is_read_and_written_by_an_administrator(api: Api, ro_api: Api) -> None:
    path = "/api/configuration/retention-default"
    assert api.get(path)["RetentionDays"] == 90
    assert ro_api.put(path, {"RetentionDays": 30}).status_code == 403
    assert api.put(path, {"RetentionDays": "30"}).status_code == 400
    assert api.put(path, {"RetentionDays": 30}).json()["RetentionDays"] == 30
    assert ro_api.get(path)["RetentionDays"] == 30


def test_built_in_providers_are_configuration_sections_the_sign_in_page_follows(
    api: Api, ro_api: Api
) -> None:
    ids = [s["Id"] for s in api.get("/api/configuration")["Items"]]
    assert "authentication-usernamepassword" in ids and "authentication-guest" in ids
    up = "/api/configuration/authentication-usernamepassword/values"
    assert api.get(up)["IsEnabled"] is True
    assert api.get("/api/configuration/authentication-guest/values")["IsEnabled"] is False
    names = [p["Name"] for p in api.get("/api/authentication")["AuthenticationProviders"]]
    assert names == ["Octopus"]
    assert ro_api.put(up, {"IsEnabled": False}).status_code == 403
    assert api.put(up, {"IsEnabled": "no"}).status_code == 400
    assert api.put(up, {"IsEnabled": False}).status_code == 200
    guest = "/api/configuration/authentication-guest/values"
    assert api.put(guest, {"IsEnabled": True}).status_code == 200
    names = [p["Name"] for p in api.get("/api/authentication")["AuthenticationProviders"]]
    assert names == ["Guest"]
