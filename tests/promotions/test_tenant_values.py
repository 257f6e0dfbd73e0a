"""Values needed per tenant of the target space, against two octosim instances over HTTP:
the bundle's project templates reach the remote project; once a tenant is connected, the
review lists its missing values per environment, import holds the release back (nothing to
deploy) until they are filled, and the value goes into Octopus's tenant variables, never
into ODCM's database or an API response."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from audit.models import AuditEntry
from octopus.errors import OctopusError
from octosim.testing import SimInstance
from odcm.clients import client_for
from promotions.models import InboundBundle, Route
from promotions.services import bundles, edits, importing, inbox, routes
from tests.conftest import make_user
from tests.octopus.pipeline_helpers import SPACE

from .conftest import database_text
from .test_routes import World, accept_releases, make_world

pytestmark = pytest.mark.django_db(transaction=True)

TENANT_SECRET = "tenant-Plaintext-Must-Not-Leak-6120"
TEMPLATES = [
    {
        "Id": "tpl-db",
        "Name": "Tenant.Db",
        "Label": "Database password",
        "HelpText": "",
        "DefaultValue": "",
        "DisplaySettings": {"Octopus.ControlType": "Sensitive"},
    },
    {
        "Id": "tpl-region",
        "Name": "Tenant.Region",
        "Label": "Region",
        "HelpText": "",
        "DefaultValue": "eu",
        "DisplaySettings": {"Octopus.ControlType": "SingleLineText"},
    },
]


def promote(world: World, route: Route, version: str) -> InboundBundle:
    with client_for(world.source.instance) as c:
        release = c.create_release_v1(
            SPACE, world.pipe.name, version=version, packages=["Deploy web:1.0.0"]
        )
    promotion = bundles.build(world.source, route, release.release_id, world.target_peer)
    return inbox.receive(promotion.token)[0]


def review_needed(bundle: InboundBundle) -> list[tuple[str, str, str, str]]:
    with client_for(bundle.space.instance) as c:
        rows = importing.review(bundle, c)["needed"]
    return [(r["name"], r["environment"], r.get("tenant", ""), r["state"]) for r in rows]


def test_import_waits_for_each_tenants_values_and_writes_them_into_octopus(
    make_sim_instance: Callable[..., SimInstance], tmp_path: Path, token_for: Any
) -> None:
    world = make_world(make_sim_instance, tmp_path)
    with client_for(world.source.instance) as c:
        project = c.get(f"/api/{SPACE}/projects/{world.pipe.project['Id']}")
        c.put(f"/api/{SPACE}/projects/{project['Id']}", {**project, "Templates": TEMPLATES})
    accept_releases(world)
    route = routes.save_route(
        world.source,
        world.pipe.project["Id"],
        [routes.StageInput(position=1, target=world.target_peer, lifecycle="Prod only")],
    )

    # First release: no tenant is connected yet; the template is announced, not missing.
    first = promote(world, route, "1.0.0")
    assert review_needed(first) == [
        (
            "Tenant.Db",
            "",
            "each tenant connected to the project",
            "needed once a tenant is connected",
        )
    ]
    first = importing.import_bundle(first, importing.source_for(first))
    assert first.state == InboundBundle.State.IMPORTED
    with client_for(world.target.instance) as c:
        remote = c.get(f"/api/{SPACE}/projects/{first.imported_project_id}")
        assert [t["Name"] for t in remote["Templates"]] == ["Tenant.Db", "Tenant.Region"]
        production = next(
            e["Id"] for e in c.get_all(f"/api/{SPACE}/environments") if e["Name"] == "Production"
        )
        c.post(
            f"/api/{SPACE}/tenants",
            {"Name": "Acme", "ProjectEnvironments": {remote["Id"]: [production]}},
        )

    # Second release: Acme lacks its value in Production; the release is held back.
    second = promote(world, route, "1.0.1")
    assert review_needed(second) == [("Tenant.Db", "Production", "Acme", "missing")]
    second = importing.import_bundle(second, importing.source_for(second))
    assert second.state == InboundBundle.State.NEEDS_VALUES
    assert "Tenant.Db (Production, Acme)" in second.last_error
    assert second.imported_release_id == ""
    with client_for(world.target.instance) as c:
        versions = [r["Version"] for r in c.project_releases(SPACE, remote["Id"])]
    assert versions == ["1.0.0"]

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(make_user('ada', admin=True))}")
    url = f"/api/v1/promotions/inbox/{second.pk}/supply/"
    wrong = api.post(
        url,
        {"name": "Tenant.Db", "environment": "Production", "tenant": "Nobody", "value": "x"},
        format="json",
    )
    assert wrong.status_code == 400 and "no tenant 'Nobody'" in wrong.json()["message"]
    filled = api.post(
        url,
        {
            "name": "Tenant.Db",
            "environment": "Production",
            "tenant": "Acme",
            "value": TENANT_SECRET,
        },
        format="json",
    )
    assert filled.status_code == 200, filled.content
    assert TENANT_SECRET not in filled.content.decode()
    tenant_rows = [n for n in filled.json()["needed"] if n.get("tenant") == "Acme"]
    assert [n["state"] for n in tenant_rows] == ["set in Octopus"]
    assert all(TENANT_SECRET not in text for _, text in database_text())

    done = api.post(f"/api/v1/promotions/inbox/{second.pk}/import/", {}, format="json")
    assert done.status_code == 200, done.content
    assert done.json()["state"] == "imported" and done.json()["imported_release_id"]
    with client_for(world.target.instance) as c:
        versions = sorted(r["Version"] for r in c.project_releases(SPACE, remote["Id"]))
    assert versions == ["1.0.0", "1.0.1"]


def test_a_tenant_connected_after_the_import_is_held_back_until_its_values_are_filled(
    make_sim_instance: Callable[..., SimInstance], tmp_path: Path
) -> None:
    world = make_world(make_sim_instance, tmp_path)
    with client_for(world.source.instance) as c:
        project = c.get(f"/api/{SPACE}/projects/{world.pipe.project['Id']}")
        c.put(f"/api/{SPACE}/projects/{project['Id']}", {**project, "Templates": TEMPLATES})
    accept_releases(world)
    route = routes.save_route(
        world.source,
        world.pipe.project["Id"],
        [routes.StageInput(position=1, target=world.target_peer, lifecycle="Prod only")],
    )
    bundle = promote(world, route, "1.0.0")
    bundle = importing.import_bundle(bundle, importing.source_for(bundle))
    assert bundle.state == InboundBundle.State.IMPORTED and bundle.last_error == ""

    # In the target space someone connects Acme to the imported project, after the import:
    # its release exists, and Acme has no value for Tenant.Db.
    with client_for(world.target.instance) as c:
        remote = c.get(f"/api/{SPACE}/projects/{bundle.imported_project_id}")
        c.put(
            f"/api/{SPACE}/projects/{remote['Id']}",
            {**remote, "TenantedDeploymentMode": "TenantedOrUntenanted"},
        )
        production = next(
            e["Id"] for e in c.get_all(f"/api/{SPACE}/environments") if e["Name"] == "Production"
        )
        acme = c.post(
            f"/api/{SPACE}/tenants",
            {"Name": "Acme", "ProjectEnvironments": {remote["Id"]: [production]}},
        )
        release = bundle.imported_release_id

    # The periodic check of imported projects (the task's service) holds Acme's deployments.
    assert edits.check(str(bundle.pk)) == "clean"
    bundle.refresh_from_db()
    assert bundle.state == InboundBundle.State.IMPORTED
    assert "Tenant.Db (Production, Acme)" in bundle.last_error
    assert review_needed(bundle) == [("Tenant.Db", "Production", "Acme", "missing")]
    with client_for(world.target.instance) as c:
        with pytest.raises(OctopusError) as refused:
            c.create_deployment(
                SPACE, {"ReleaseId": release, "EnvironmentId": production, "TenantId": acme["Id"]}
            )
        assert "deployment freeze 'ODCM: values needed for" in str(refused.value)
        assert not c.get(f"/api/{SPACE}/deployments", {"tenants": acme["Id"]})["Items"]
        # Only Acme is held: the untenanted deployment of the same release goes ahead.
        untenanted = c.create_deployment(SPACE, {"ReleaseId": release, "EnvironmentId": production})
        assert untenanted["TenantId"] is None
    # A second check changes nothing (one freeze, audited once).
    edits.check(str(bundle.pk))
    assert AuditEntry.objects.filter(action="promotions.inbox.tenants_held").count() == 1

    # The review page shows the hold and takes Acme's value, even though the bundle is imported.
    admin = make_user("ada", admin=True)
    browser = Client()
    browser.force_login(admin)
    page = browser.get(f"/promotions/inbox/{bundle.pk}/").content.decode()
    assert "Deployments held in Octopus until these tenant values are filled" in page
    assert f'name="tenant" value="{acme["Id"]}"' in page
    browser.post(
        f"/promotions/inbox/{bundle.pk}/",
        {
            "name": "Tenant.Db",
            "environment": "Production",
            "tenant": acme["Id"],
            "value": TENANT_SECRET,
        },
    )
    bundle.refresh_from_db()
    assert bundle.last_error == ""
    assert AuditEntry.objects.filter(action="promotions.inbox.tenants_released").count() == 1
    with client_for(world.target.instance) as c:
        assert c.get("/api/deploymentfreezes")["Count"] == 0
        deployed = c.create_deployment(
            SPACE, {"ReleaseId": release, "EnvironmentId": production, "TenantId": acme["Id"]}
        )
        assert deployed["TenantId"] == acme["Id"]
    assert all(TENANT_SECRET not in text for _, text in database_text())
