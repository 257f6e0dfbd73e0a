"""/api/v1/instances, /api/v1/spaces and /api/v1/favourites against octosim."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from identity import services as identity_services
from identity.models import Role, User
from octosim.testing import SimInstance
from spaces.models import Favourite, Instance, Space
from tests.spaces.octo import add_space

pytestmark = pytest.mark.django_db


@pytest.fixture
def as_user(token_for: Callable[..., str]) -> Callable[..., APIClient]:
    def _client(user: User, **kwargs: Any) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(user, **kwargs)}")
        return client

    return _client


def test_create_instance_enlists_and_never_returns_the_key(
    sim_instance: SimInstance, admin_user: User, as_user: Callable[..., APIClient]
) -> None:
    api = as_user(admin_user)
    body = {"name": "Api", "url": sim_instance.url, "api_key": sim_instance.api_key,
            "tags": ["prod"], "spaces": ["Spaces-1", "Spaces-2"]}  # fmt: skip
    answer = api.post("/api/v1/instances/", body, format="json")
    assert answer.status_code == 201, answer.content
    data = answer.json()
    assert data["installation_id"] == sim_instance.installation_id and data["tags"] == ["prod"]
    assert "api_key" not in data
    states = dict(Space.objects.values_list("octopus_id", "state"))
    assert states == {"Spaces-1": "enlisted", "Spaces-2": "enlisted", "Spaces-3": "not_enlisted"}
    again = api.post("/api/v1/instances/", {**body, "name": "Other"}, format="json")
    assert again.status_code == 400
    assert again.json()["code"] == "already_enlisted"


def test_enlist_errors_come_back_with_their_code(
    sim_instance: SimInstance, admin_user: User, as_user: Callable[..., APIClient]
) -> None:
    body = {"name": "X", "url": sim_instance.url, "api_key": sim_instance.read_only_api_key}
    answer = as_user(admin_user).post("/api/v1/instances/", body, format="json")
    assert answer.status_code == 400
    assert answer.json()["code"] == "insufficient_permission"
    assert not Instance.objects.exists()


def test_only_admins_enlist(sim_instance: SimInstance, member: User,
                            as_user: Callable[..., APIClient]) -> None:  # fmt: skip
    body = {"name": "X", "url": sim_instance.url, "api_key": sim_instance.api_key}
    assert as_user(member).post("/api/v1/instances/", body, format="json").status_code == 403
    assert not Instance.objects.exists()


def test_update_rotate_refresh_and_unenlist(
    sim_instance: SimInstance, enlisted: Instance, admin_user: User,
    as_user: Callable[..., APIClient],
) -> None:  # fmt: skip
    api = as_user(admin_user)
    url = f"/api/v1/instances/{enlisted.pk}/"
    answer = api.patch(url, {"name": "Renamed", "tags": ["a", "b"]}, format="json")
    assert answer.status_code == 200 and answer.json()["name"] == "Renamed"
    assert answer.json()["tags"] == ["a", "b"]
    bad = api.patch(url, {"api_key": sim_instance.read_only_api_key}, format="json")
    assert bad.status_code == 400 and bad.json()["code"] == "insufficient_permission"
    assert api.patch(url, {"api_key": sim_instance.api_key}, format="json").status_code == 200
    add_space(sim_instance, "Via API")
    refreshed = api.post(f"{url}refresh/")
    assert refreshed.status_code == 200 and refreshed.json()["added"] == ["Via API"]
    sim_instance.set_faults(offline="refuse")
    failed = api.post(f"{url}refresh/")
    assert failed.status_code == 502 and failed.json()["code"] == "unreachable"
    assert api.delete(url).status_code == 204
    assert not Instance.objects.exists()


def test_space_list_filters_and_access(
    enlisted: Instance, member: User, outsider: User, admin_user: User,
    as_user: Callable[..., APIClient],
) -> None:  # fmt: skip
    from spaces import services

    services.update_instance(enlisted, region="Antarctica", tags=["cold"])
    space = enlisted.spaces.get(octopus_id="Spaces-2")
    group = identity_services.create_group(name="Viewers", members=[member])
    identity_services.grant(group, Role.VIEWER, space=space)
    admin = as_user(admin_user)

    def names(client: APIClient, query: str = "") -> list[str]:
        answer = client.get(f"/api/v1/spaces/{query}")
        assert answer.status_code == 200, answer.content
        return [row["octopus_id"] for row in answer.json()["results"]]

    assert sorted(names(admin)) == ["Spaces-1", "Spaces-2", "Spaces-3"]
    assert sorted(names(admin, "?search=antarc")) == ["Spaces-1", "Spaces-2", "Spaces-3"]
    assert names(admin, f"?search={space.name[:4]}") == ["Spaces-2"]
    assert len(names(admin, "?tag=cold")) == 3 and names(admin, "?tag=hot") == []
    assert len(names(admin, f"?instance={enlisted.pk}")) == 3
    assert admin.get("/api/v1/spaces/?instance=nope").status_code == 400
    services.set_enlisted(enlisted.spaces.get(octopus_id="Spaces-3"), False)
    assert names(admin, "?state=not_enlisted") == ["Spaces-3"]
    assert names(as_user(member)) == ["Spaces-2"]
    assert names(as_user(outsider)) == []
    detail = f"/api/v1/spaces/{space.pk}/"
    assert as_user(outsider).get(detail).status_code == 404
    row = as_user(member).get(detail).json()
    assert row["octopus_url"] == f"{enlisted.base_url}/app#/Spaces-2"
    assert as_user(member).post(f"{detail}unenlist/").status_code == 403
    assert as_user(outsider).post(f"{detail}unenlist/").status_code == 404
    assert admin.post(f"{detail}unenlist/").json()["state"] == "not_enlisted"
    assert admin.post(f"{detail}enlist/").json()["state"] == "enlisted"


def test_create_space_through_the_api(
    sim_instance: SimInstance, enlisted: Instance, admin_user: User,
    as_user: Callable[..., APIClient],
) -> None:  # fmt: skip
    api = as_user(admin_user)
    body = {"instance": str(enlisted.pk), "name": "From API", "stamp_environments": True,
            "manager_team_ids": ["teams-managers"]}  # fmt: skip
    answer = api.post("/api/v1/spaces/", body, format="json")
    assert answer.status_code == 201, answer.content
    created = answer.json()
    assert created["created_by_odcm"] and created["warnings"] == []
    truth = sim_instance.truth()["spaces"][created["octopus_id"]]
    assert truth["environment_names"] == ["Development", "Test", "Production"]
    duplicate = api.post("/api/v1/spaces/", body, format="json")
    assert duplicate.status_code == 400 and "already in use" in duplicate.json()["detail"]


def test_favourites_api_is_per_user(
    enlisted: Instance, admin_user: User, member: User, as_user: Callable[..., APIClient]
) -> None:
    space = enlisted.spaces.get(octopus_id="Spaces-1")
    ada, mia = as_user(admin_user), as_user(member)
    assert (
        ada.post("/api/v1/favourites/", {"space": str(space.pk)}, format="json").status_code == 201
    )
    assert ada.get("/api/v1/favourites/").json()["results"][0]["space"] == str(space.pk)
    assert mia.get("/api/v1/favourites/").json()["results"] == []
    # mia cannot see the space: she cannot star it either.
    assert (
        mia.post("/api/v1/favourites/", {"space": str(space.pk)}, format="json").status_code == 400
    )
    assert mia.delete(f"/api/v1/favourites/{space.pk}/").status_code == 404
    assert ada.delete(f"/api/v1/favourites/{space.pk}/").status_code == 204
    assert not Favourite.objects.exists()


def test_openapi_schema_documents_the_registry(
    admin_user: User, as_user: Callable[..., APIClient]
) -> None:
    schema = as_user(admin_user).get("/api/schema/?format=json").json()
    for path in ("/api/v1/instances/", "/api/v1/instances/{id}/refresh/", "/api/v1/spaces/",
                 "/api/v1/spaces/{id}/enlist/", "/api/v1/favourites/{space}/"):  # fmt: skip
        assert path in schema["paths"], path
    enlist = schema["components"]["schemas"]["EnlistRequest"]
    assert "api_key" in enlist["properties"]
    assert "api_key" not in schema["components"]["schemas"]["Instance"]["properties"]
