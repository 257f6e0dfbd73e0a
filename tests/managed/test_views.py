"""The blueprint pages: create, assign, apply, status per space; outsiders get 404."""

from __future__ import annotations

import json

import pytest

from managed.models import Blueprint, BlueprintTarget
from managed.services import broker

from .conftest import FEED_SECRET, document, enlist_sim, space_of

pytestmark = pytest.mark.django_db


def test_an_administrator_creates_assigns_and_applies_a_blueprint_from_the_pages(
    make_sim_instance, admin_user, outsider, login
):
    inst = enlist_sim(make_sim_instance(spaces=2))
    client = login(admin_user)
    page = client.get("/managed/")
    assert page.status_code == 200 and b"New blueprint" in page.content
    created = client.post(
        "/managed/",
        {
            "name": "DC",
            "management_space": str(space_of(inst).pk),
            "on_drift": "report",
            "document": json.dumps(document()),
        },
    )
    assert created.status_code == 302, created.content[:2000]
    bp = Blueprint.objects.get()
    target_space = space_of(inst, "Spaces-2")
    assert (
        client.post(
            f"/managed/blueprints/{bp.pk}/assign/", {"spaces": [str(target_space.pk)]}
        ).status_code
        == 302
    )
    assert client.post(f"/managed/blueprints/{bp.pk}/apply/").status_code == 302
    target = BlueprintTarget.objects.get(blueprint=bp)
    assert target.status == "queued"
    assert broker.apply_target(str(target.pk)) == "applied"
    detail = client.get(f"/managed/blueprints/{bp.pk}/").content.decode()
    assert "Applied" in detail and target_space.name in detail and "8 to create" in detail
    assert FEED_SECRET not in detail
    bad = client.post(
        f"/managed/blueprints/{bp.pk}/",
        {"document": '{"environments": [{"name": "A"}, {"name": "a"}]}', "comment": ""},
    )
    assert bad.status_code == 200 and "appears twice" in bad.content.decode()
    assert Blueprint.objects.get().latest_revision == 1
    outsider_client = login(outsider)
    assert outsider_client.get(f"/managed/blueprints/{bp.pk}/").status_code == 404
    assert outsider_client.post(f"/managed/blueprints/{bp.pk}/apply/").status_code == 404
