"""Edits of an imported remote project, against two octosim instances over HTTP: a clean
import reports nothing; changing a value scoped to the target's environment is a
customisation, not an edit; changing the process or an unscoped variable is reported on the
review page, in the inbox, through the API and in the audit log."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from audit.models import AuditEntry
from octosim.testing import SimInstance
from odcm.clients import client_for
from promotions.models import InboundBundle
from promotions.services import bundles, edits, importing, inbox, routes
from tests.conftest import make_user
from tests.octopus.pipeline_helpers import SPACE

from .test_routes import World, accept_releases, make_world

pytestmark = pytest.mark.django_db(transaction=True)


def imported(world: World) -> InboundBundle:
    """Release 1.0.0 of the source project (an unscoped and a Production-scoped variable)
    promoted to the target along a route that names the target's lifecycle, and imported."""
    with client_for(world.source.instance) as c:
        project = c.get(f"/api/{SPACE}/projects/{world.pipe.project['Id']}")
        variables = c.variable_set(SPACE, project["VariableSetId"])
        variables["Variables"] = [
            {"Name": "Site.Title", "Value": "Acme"},
            {
                "Name": "Api.Url",
                "Value": "https://prod.example",
                "Scope": {"Environment": [world.pipe.environments["Production"]]},
            },
        ]
        c.update_variable_set(SPACE, variables)
        release = c.create_release_v1(
            SPACE, world.pipe.name, version="1.0.0", packages=["Deploy web:1.0.0"]
        )
    accept_releases(world)
    route = routes.save_route(
        world.source,
        world.pipe.project["Id"],
        [routes.StageInput(position=1, target=world.target_peer, lifecycle="Prod only")],
    )
    promotion = bundles.build(world.source, route, release.release_id, world.target_peer)
    bundle, _ = inbox.receive(promotion.token)
    # No lifecycle chosen: the route's "Prod only" is used (the space has several).
    return importing.import_bundle(bundle, importing.source_for(bundle))


def edit_target(world: World, bundle: InboundBundle, change: Callable[[Any, Any], None]) -> None:
    with client_for(world.target.instance) as c:
        change(c, c.get(f"/api/{SPACE}/projects/{bundle.imported_project_id}"))


def set_variable(name: str, value: str) -> Callable[[Any, Any], None]:
    def change(c: Any, project: Any) -> None:
        doc = c.variable_set(SPACE, project["VariableSetId"])
        for var in doc["Variables"]:
            if var["Name"] == name:
                var["Value"] = value
        c.update_variable_set(SPACE, doc)

    return change


def test_edits_of_an_imported_project_are_reported_and_customisations_are_not(
    make_sim_instance: Callable[..., SimInstance], tmp_path: Path, token_for: Any
) -> None:
    world = make_world(make_sim_instance, tmp_path)
    bundle = imported(world)
    with client_for(world.target.instance) as c:
        lifecycle = next(lc for lc in c.lifecycles(SPACE) if lc["Name"] == "Prod only")
    assert bundle.lifecycle_id == lifecycle["Id"]
    assert edits.candidates() == [str(bundle.pk)]
    assert edits.check(str(bundle.pk)) == "clean"

    # A value for this space's Production customises the deployment: not an edit.
    edit_target(world, bundle, set_variable("Api.Url", "https://www.acme.example"))
    assert edits.check(str(bundle.pk)) == "clean"
    assert not AuditEntry.objects.filter(action="promotions.inbox.edits_detected").exists()

    # The unscoped variable and a step built the release: edits.
    def change_step(c: Any, project: Any) -> None:
        process = c.project_deployment_process(SPACE, project["Id"])
        smoke = next(s for s in process["Steps"] if s["Name"] == "Smoke test")
        smoke["Actions"][0]["Properties"]["Octopus.Action.Script.ScriptBody"] = "echo edited"
        c.update_deployment_process(SPACE, process)

    edit_target(world, bundle, set_variable("Site.Title", "Edited"))
    edit_target(world, bundle, change_step)
    assert edits.check(str(bundle.pk)) == "edited"
    bundle.refresh_from_db()
    assert bundle.edits == [
        {"what": "step", "name": "Smoke test", "change": "changed"},
        {"what": "variable", "name": "Site.Title", "change": "changed"},
    ]
    (entry,) = AuditEntry.objects.filter(action="promotions.inbox.edits_detected")
    assert entry.object_id == str(bundle.pk)
    assert edits.check(str(bundle.pk)) == "edited"  # the same edits are audited once
    assert AuditEntry.objects.filter(action="promotions.inbox.edits_detected").count() == 1

    admin = make_user("ada", admin=True)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(admin)}")
    body = api.get(f"/api/v1/promotions/inbox/{bundle.pk}/edits/").json()
    assert {e["name"] for e in body["edits"]} == {"Smoke test", "Site.Title"}
    browser = Client()
    browser.force_login(admin)
    review = browser.get(f"/promotions/inbox/{bundle.pk}/").content.decode()
    assert "Edited in Octopus since the import" in review and "Site.Title" in review
    assert "edited in Octopus" in browser.get("/promotions/").content.decode()

    # Put back as imported: clean again, and the clearing is audited.
    edit_target(world, bundle, set_variable("Site.Title", "Acme"))

    def restore_step(c: Any, project: Any) -> None:
        process = c.project_deployment_process(SPACE, project["Id"])
        smoke = next(s for s in process["Steps"] if s["Name"] == "Smoke test")
        smoke["Actions"][0]["Properties"]["Octopus.Action.Script.ScriptBody"] = next(
            s for s in bundle.payload["process"]["Steps"] if s["Name"] == "Smoke test"
        )["Actions"][0]["Properties"]["Octopus.Action.Script.ScriptBody"]
        c.update_deployment_process(SPACE, process)

    edit_target(world, bundle, restore_step)
    assert edits.check(str(bundle.pk)) == "clean"
    assert AuditEntry.objects.filter(action="promotions.inbox.edits_cleared").count() == 1
