"""The pipelines API: administrators define, managers attach and promote, the board, the
version report; a promotion before the stage before has soaked is a 409 (deliveries are
only queued here: no Octopus needed)."""

from __future__ import annotations

from typing import Any

import pytest

from rollouts.models import StagePromotion
from sharing.models import SharedItem, Subscription
from sharing.services import items
from spaces.models import Space

from .conftest import variables_v
from .test_api import _as, item  # noqa: F401 - the fixture, used by name

pytestmark = pytest.mark.django_db


def _body(first: list[Space], second: list[Space]) -> dict[str, Any]:
    return {
        "name": "Train",
        "stages": [
            {"name": "dev", "selector": "spaces", "spaces": [str(s.pk) for s in first]},
            {
                "name": "prod",
                "selector": "spaces",
                "spaces": [str(s.pk) for s in second],
                "allowed_versions": ["2024.2.1"],
            },
        ],
    }


def test_pipeline_api(
    item: SharedItem,  # noqa: F811 - the fixture
    api_client: Any,
    token_for: Any,
    admin_user: Any,
    space_owner: Any,
    outsider: Any,
) -> None:
    subs = list(item.subscriptions.order_by("space__name").select_related("space"))
    body = _body([subs[0].space], [s.space for s in subs[1:]])
    api = _as(api_client, token_for, space_owner)
    assert api.post("/api/v1/rollouts/pipelines/", body, format="json").status_code == 403
    api = _as(api_client, token_for, admin_user)
    made = api.post("/api/v1/rollouts/pipelines/", body, format="json")
    assert made.status_code == 201, made.content
    pk = made.json()["id"]
    bad = api.post(
        "/api/v1/rollouts/pipelines/",
        {"name": "Bad", "stages": [{"name": "x", "selector": "tag"}]},
        format="json",
    )
    assert bad.status_code == 400 and "stages[1].value" in bad.json()["errors"]

    subject = {"kind": "shared_item", "subject_id": str(item.pk)}
    api = _as(api_client, token_for, outsider)
    assert api.post(f"/api/v1/rollouts/pipelines/{pk}/attach/", subject).status_code == 404
    api = _as(api_client, token_for, space_owner)
    assert api.post(f"/api/v1/rollouts/pipelines/{pk}/attach/", subject).status_code == 200

    items.save_revision(item, variables_v(2))
    targets = dict(
        Subscription.objects.filter(item=item).values_list("space__name", "target_revision")
    )
    assert targets == {"Sub 0": 2, "Sub 1": 1, "Sub 2": 1, "Sub 3": 1}
    promote = {**subject, "revision": 2, "stage": 2}
    refused = api.post(f"/api/v1/rollouts/pipelines/{pk}/promote/", promote)
    assert refused.status_code == 409 and refused.json()["code"] == "not_soaked"

    board = api.get(f"/api/v1/rollouts/pipelines/{pk}/board/").json()["subjects"]
    assert [(s["name"], s["revision"], s["state"]) for s in board[0]["stages"]] == [
        ("dev", 2, "delivering"),
        ("prod", None, ""),
    ]
    # Someone who cannot see the item sees an empty board.
    api = _as(api_client, token_for, outsider)
    assert api.get(f"/api/v1/rollouts/pipelines/{pk}/board/").json()["subjects"] == []
    assert api.get(f"/api/v1/rollouts/pipelines/{pk}/versions/").status_code == 403

    # Once dev has soaked (marked here; the engine test waits for it), prod may take it.
    StagePromotion.objects.filter(stage__position=1).update(state=StagePromotion.State.DONE)
    api = _as(api_client, token_for, space_owner)
    done = api.post(f"/api/v1/rollouts/pipelines/{pk}/promote/", promote)
    assert done.status_code == 201, done.content
    assert sorted(item.subscriptions.values_list("target_revision", flat=True)) == [2, 2, 2, 2]
    api = _as(api_client, token_for, admin_user)
    report = api.get(f"/api/v1/rollouts/pipelines/{pk}/versions/").json()
    assert report["flagged"] == [] and "not_allowed" in report


def test_pipeline_board_page(
    item: SharedItem,  # noqa: F811 - the fixture
    login: Any,
    admin_user: Any,
    space_owner: Any,
) -> None:
    from rollouts.models import PipelineStage
    from rollouts.services import pipelines

    subs = list(item.subscriptions.order_by("space__name").select_related("space"))
    pipeline = pipelines.save_pipeline(
        "Train",
        [
            {
                "name": "dev",
                "selector": PipelineStage.Selector.SPACES,
                "spaces": [subs[0].space_id],
            },
            {
                "name": "prod",
                "selector": PipelineStage.Selector.SPACES,
                "spaces": [s.space_id for s in subs[1:]],
            },
        ],
    )
    pipelines.attach(pipeline, "shared_item", item.pk)
    items.save_revision(item, variables_v(2))
    client = login(space_owner)
    assert "Train" in client.get("/rollouts/pipelines/").content.decode()
    page = client.get(f"/rollouts/pipelines/{pipeline.pk}/").content.decode()
    assert "Common" in page and "r2" in page and 'data-testid="promote-2"' not in page
    assert 'data-testid="version-flags"' not in page and "Octopus Server versions" not in page
    StagePromotion.objects.filter(stage__position=1).update(state=StagePromotion.State.DONE)
    page = client.get(f"/rollouts/pipelines/{pipeline.pk}/").content.decode()
    assert 'data-testid="promote-2"' in page
    done = client.post(
        f"/rollouts/pipelines/{pipeline.pk}/promote/",
        {"kind": "shared_item", "subject_id": str(item.pk), "revision": "2", "stage": "2"},
    )
    assert done.status_code == 302
    assert sorted(item.subscriptions.values_list("target_revision", flat=True)) == [2, 2, 2, 2]
    assert (
        "Octopus Server versions"
        in login(admin_user).get(f"/rollouts/pipelines/{pipeline.pk}/").content.decode()
    )
