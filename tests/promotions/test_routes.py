"""Routes made by people (form and API) and the values held for remote environments, against
two octosim instances over HTTP and PostgreSQL: every stage is checked against the source
space's Octopus and the trusts; a refused route writes nothing; values for a remote
environment are sealed at rest, never shown back, and travel in the bundle."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from audit.models import AuditEntry
from identity import services as identity_services
from identity.models import Role
from octosim.testing import SimInstance
from odcm.clients import client_for
from promotions import pki
from promotions.errors import PromotionError
from promotions.models import RemoteSpace, RemoteValue, Route, Trust
from promotions.services import bundles, importing, inbox, peers, routes
from spaces.models import Space
from tests.conftest import make_user
from tests.octopus.pipeline_helpers import SPACE, Pipeline, make_pipeline
from tests.sharing.conftest import enlist_sim, space_of

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "route-Plaintext-Must-Not-Leak-5531"


@dataclass
class World:
    source: Space
    target: Space
    target_peer: RemoteSpace  # the target as the source knows it (same ODCM)
    far: RemoteSpace  # a space of another ODCM, no trust yet
    pipe: Pipeline


def make_world(make_sim_instance: Callable[..., SimInstance], tmp_path: Path) -> World:
    sim_a, sim_b = make_sim_instance("routes-a", seed=61), make_sim_instance("routes-b", seed=62)
    inst_a, inst_b = enlist_sim(sim_a), enlist_sim(sim_b)
    source, target = space_of(inst_a), space_of(inst_b)
    with client_for(inst_a) as c:
        pipe = make_pipeline(c, tmp_path)
    with client_for(inst_b) as c:
        production = next(
            e["Id"] for e in c.get_all(f"/api/{SPACE}/environments") if e["Name"] == "Production"
        )
        c.create_lifecycle(
            SPACE,
            {
                "Name": "Prod only",
                "Phases": [
                    {
                        "Name": "Production",
                        "OptionalDeploymentTargets": [production],
                        "AutomaticDeploymentTargets": [],
                        "MinimumEnvironmentsBeforePromotion": 0,
                        "IsOptionalPhase": False,
                    }
                ],
            },
        )
    far_cert = pki.cert_pem(pki.generate("Far away", days=30)[1])
    far = peers.add_remote("Far", certificate=far_cert, url="https://far.example")
    return World(source, target, peers.local_peer(target), far, pipe)


def accept_releases(w: World) -> None:
    """The target space accepts releases from the source (same ODCM: no fingerprint)."""
    peers.propose(w.target, peers.local_peer(w.source), Trust.Accepts.RELEASES)


@pytest.fixture
def world(make_sim_instance: Callable[..., SimInstance], tmp_path: Path) -> World:
    return make_world(make_sim_instance, tmp_path)


def manager_of(space: Space, name: str = "owen") -> Any:
    user = make_user(name)
    group = identity_services.create_group(name=f"Managers {name}", members=[user])
    identity_services.grant(group, Role.MANAGER, space=space)
    return user


def viewer_of(space: Space, name: str = "mia") -> Any:
    user = make_user(name)
    group = identity_services.create_group(name=f"Viewers {name}", members=[user])
    identity_services.grant(group, Role.VIEWER, space=space)
    return user


def api_for(user: Any, token_for: Any) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(user)}")
    return api


def test_a_route_is_saved_with_the_lifecycle_to_use_there_and_audited(world: World) -> None:
    accept_releases(world)
    route = routes.save_route(
        world.source,
        world.pipe.project["Id"],
        [
            routes.StageInput(position=3, target=world.target_peer, lifecycle="Prod only"),
            routes.StageInput(position=1, environment="Development"),
            routes.StageInput(position=2, environment="Test"),
        ],
    )
    assert route.project_name == world.pipe.name
    assert [(str(s), s.lifecycle) for s in route.stages.all()] == [
        ("Development", ""),
        ("Test", ""),
        (world.target_peer.name, "Prod only"),
    ]
    entry = AuditEntry.objects.filter(action="promotions.route.set").latest("pk")
    assert entry.changes["after"]["lifecycles"] == {str(world.target_peer.pk): "Prod only"}


def test_every_problem_of_a_route_is_named_and_nothing_is_written(world: World) -> None:
    stages = [
        routes.StageInput(position=1, environment="Development"),
        routes.StageInput(position=1, environment="Staging"),  # same position; no such env
        routes.StageInput(position=2, target=world.target_peer, lifecycle="Nope"),
        routes.StageInput(position=4, target=world.far),
        routes.StageInput(position=5, environment="Test"),  # after a target space
    ]
    with pytest.raises(PromotionError) as caught:
        routes.save_route(world.source, world.pipe.project["Id"], stages)
    errors = caught.value.errors
    assert isinstance(errors, dict)
    assert "same position 1" in errors["stages[2].position"][0]
    assert "has no environment 'Staging'" in errors["stages[2].environment"][0]
    assert "does not accept releases from" in errors["stages[3].target"][0]
    assert "no lifecycle named 'Nope'" in errors["stages[3].lifecycle"][0]
    assert "(it has: " in errors["stages[3].lifecycle"][0]
    assert "managed by another ODCM" in errors["stages[4].target"][0]
    assert any("comes after a target space" in e for e in errors["stages"])
    with pytest.raises(PromotionError, match="has no project"):
        routes.save_route(world.source, "Projects-404", stages[:1])
    assert not Route.objects.exists()

    # With the trusts in place the same targets are accepted.
    accept_releases(world)
    peers.confirm(
        peers.propose(world.source, world.far, Trust.Accepts.RECEIPTS),
        peers.newest_certificate(world.far).fingerprint,
    )
    route = routes.save_route(
        world.source,
        world.pipe.project["Id"],
        [
            routes.StageInput(position=1, environment="Development"),
            routes.StageInput(position=2, target=world.target_peer, lifecycle="Prod only"),
            routes.StageInput(position=3, target=world.far, lifecycle="Anything there"),
        ],
    )
    assert route.stages.count() == 3


def test_routes_through_the_api_create_replace_and_delete_for_managers_only(
    world: World, token_for: Any
) -> None:
    accept_releases(world)
    owen, mia, oscar = manager_of(world.source), viewer_of(world.source), make_user("oscar")
    body = {
        "space": str(world.source.pk),
        "project_id": world.pipe.project["Id"],
        "stages": [
            {"position": 1, "environment": "Development"},
            {"position": 2, "target": str(world.target_peer.pk), "lifecycle": "Prod only"},
        ],
    }
    assert (
        api_for(oscar, token_for)
        .post("/api/v1/promotions/routes/", body, format="json")
        .status_code
        == 404
    )
    assert (
        api_for(mia, token_for).post("/api/v1/promotions/routes/", body, format="json").status_code
        == 403
    )
    api = api_for(owen, token_for)
    bad = api.post(
        "/api/v1/promotions/routes/",
        {**body, "stages": [{"position": 1, "environment": "Staging"}]},
        format="json",
    )
    assert bad.status_code == 400
    assert "has no environment 'Staging'" in bad.json()["errors"]["stages[1].environment"][0]
    made = api.post("/api/v1/promotions/routes/", body, format="json")
    assert made.status_code == 201, made.content
    route = made.json()
    assert route["stages"] == ["Development", world.target_peer.name]
    assert route["stage_details"][1]["lifecycle"] == "Prod only"
    again = api.post("/api/v1/promotions/routes/", body, format="json")
    assert again.status_code == 409
    replaced = api.put(
        f"/api/v1/promotions/routes/{route['id']}/",
        {"stages": [{"position": 1, "target": str(world.target_peer.pk)}]},
        format="json",
    )
    assert replaced.status_code == 200 and replaced.json()["stages"] == [world.target_peer.name]
    assert (
        api_for(mia, token_for).delete(f"/api/v1/promotions/routes/{route['id']}/").status_code
        == 403
    )
    assert api.delete(f"/api/v1/promotions/routes/{route['id']}/").status_code == 204
    assert not Route.objects.exists()
    assert AuditEntry.objects.filter(action="promotions.route.delete").count() == 1


def test_remote_environment_values_are_sealed_never_shown_and_travel_in_the_bundle(
    world: World, token_for: Any
) -> None:
    accept_releases(world)
    route = routes.save_route(
        world.source,
        world.pipe.project["Id"],
        [routes.StageInput(position=1, target=world.target_peer)],
    )
    owen = manager_of(world.source)
    api = api_for(owen, token_for)
    url = f"/api/v1/promotions/routes/{route.pk}/values/"
    target = str(world.target_peer.pk)
    set_secret = api.post(
        url,
        {
            "target": target,
            "environment": "Production",
            "name": "Api.Key",
            "value": SECRET,
            "sensitive": True,
        },
        format="json",
    )
    assert set_secret.status_code == 200 and SECRET not in set_secret.content.decode()
    assert set_secret.json()["value"] is None
    plain = api.post(
        url,
        {"target": target, "environment": "Production", "name": "Region", "value": "eu"},
        format="json",
    )
    assert plain.json()["value"] == "eu"
    # Changing the sensitive flag without a value keeps the held secret.
    kept = api.post(
        url,
        {"target": target, "environment": "Production", "name": "Api.Key", "sensitive": True},
        format="json",
    )
    assert kept.status_code == 200
    refused = api.post(
        url,
        {"target": str(world.far.pk), "environment": "Production", "name": "X", "value": "1"},
        format="json",
    )
    assert refused.status_code == 400 and "not a target" in refused.json()["message"]
    listed = api.get(url)
    assert SECRET not in listed.content.decode()
    assert {(v["name"], v["value"]) for v in listed.json()} == {
        ("Api.Key", None),
        ("Region", "eu"),
    }
    row = RemoteValue.objects.get(name="Api.Key")
    assert row.value == "" and SECRET not in str(row.sealed_value)

    # The bundle carries them: sealed to the target, and the review says "provided".
    with client_for(world.source.instance) as c:
        release = c.create_release_v1(
            SPACE, world.pipe.name, version="1.0.0", packages=["Deploy web:1.0.0"]
        )
    promotion = bundles.build(world.source, route, release.release_id, world.target_peer)
    assert SECRET not in promotion.token
    bundle, _ = inbox.receive(promotion.token)
    review = importing.review(bundle)
    shown = {(v["name"], v["scope"]): v["value"] for v in review["variables"]}
    assert shown[("Api.Key", "Production")] == "provided"
    assert shown[("Region", "Production")] == "eu"
    assert SECRET not in str(review)

    # Removing one: gone from the list and from the next bundle.
    other = api.delete(f"{url}{RemoteValue.objects.get(name='Region').pk}/")
    assert other.status_code == 204
    assert [v["name"] for v in api.get(url).json()] == ["Api.Key"]
    assert AuditEntry.objects.filter(action="promotions.remote_value.delete").count() == 1


def test_the_route_page_edits_values_without_echoing_a_secret(world: World) -> None:
    accept_releases(world)
    route = routes.save_route(
        world.source,
        world.pipe.project["Id"],
        [routes.StageInput(position=1, target=world.target_peer)],
    )
    owen, mia = manager_of(world.source), viewer_of(world.source)
    browser = Client()
    browser.force_login(owen)
    page = f"/promotions/routes/{route.pk}/"
    form = {
        "target": str(world.target_peer.pk),
        "environment": "Production",
        "name": "Api.Key",
        "value": SECRET,
        "sensitive": "on",
    }
    done = browser.post(f"{page}values/", form, follow=True)
    assert "Value of Api.Key for" in done.content.decode()
    shown = browser.get(page).content.decode()
    assert "sensitive, set" in shown and SECRET not in shown
    row = RemoteValue.objects.get()
    editing = browser.get(f"{page}?edit={row.pk}").content.decode()
    assert 'value="Api.Key"' in editing and SECRET not in editing
    # Saved again without a value: the secret is kept.
    browser.post(f"{page}values/", {**form, "value": ""})
    assert routes.values_for(route, world.target_peer) == [("Production", "Api.Key", True, SECRET)]
    missing = browser.post(f"{page}values/", {**form, "name": ""}, follow=True)
    assert "The value was not saved" in missing.content.decode()
    # A viewer sees the values but may not change them.
    viewer = Client()
    viewer.force_login(mia)
    assert "Save value" not in viewer.get(page).content.decode()
    assert viewer.post(f"{page}values/{row.pk}/delete/").status_code == 403
    browser.post(f"{page}values/{row.pk}/delete/")
    assert not RemoteValue.objects.exists()


def test_the_route_form_shows_errors_and_saves(world: World) -> None:
    owen = manager_of(world.source)
    browser = Client()
    browser.force_login(owen)
    url = f"/promotions/spaces/{world.source.pk}/routes/new/"
    shown = browser.get(url).content.decode()
    assert world.pipe.name in shown and "Development" in shown
    data = {
        "project": world.pipe.project["Id"],
        "stages-TOTAL_FORMS": "2",
        "stages-INITIAL_FORMS": "0",
        "stages-MIN_NUM_FORMS": "0",
        "stages-MAX_NUM_FORMS": "30",
        "stages-0-position": "1",
        "stages-0-stage": "env:Development",
        "stages-1-position": "2",
        "stages-1-stage": f"space:{world.target_peer.pk}",
        "stages-1-lifecycle": "Prod only",
    }
    refused = browser.post(url, data).content.decode()
    assert "does not accept releases from" in refused
    assert not Route.objects.exists()
    accept_releases(world)
    added = browser.post(url, {**data, "add": "1"}).content.decode()
    assert 'name="stages-2-position"' in added
    browser.post(url, data)
    route = Route.objects.get()
    assert [str(s) for s in route.stages.all()] == ["Development", world.target_peer.name]
    # Edit: drop the environment stage; then delete the route.
    edit = f"/promotions/routes/{route.pk}/edit/"
    browser.post(
        edit,
        {**data, "stages-0-DELETE": "on"},
    )
    assert [str(s) for s in route.stages.all()] == [world.target_peer.name]
    viewer = Client()
    viewer.force_login(viewer_of(world.source))
    assert viewer.get(edit).status_code == 403
    outsider = Client()
    outsider.force_login(make_user("oscar"))
    assert outsider.get(edit).status_code == 404
    browser.post(f"/promotions/routes/{route.pk}/delete/")
    assert not Route.objects.exists()
