"""The pipeline board's Detach button: managers of a subject take it out of the pipeline from
the board (POST, htmx answers the board), audited; others get a 404 or 403 (Django's client,
no browser)."""

from __future__ import annotations

from typing import Any

import pytest

from audit.models import AuditEntry
from rollouts.models import Pipeline, PipelineSubject
from sharing.models import SharedItem
from sharing.services import items
from spaces.models import Instance

from .conftest import variables_v
from .test_api import _as, item  # noqa: F401 - the fixture, used by name
from .test_pipelines_api import _body

pytestmark = pytest.mark.django_db


def test_a_manager_detaches_a_subject_from_the_board(
    item: SharedItem,  # noqa: F811 - the fixture
    login: Any,
    api_client: Any,
    token_for: Any,
    admin_user: Any,
    space_owner: Any,
    member: Any,
    outsider: Any,
) -> None:
    subs = list(item.subscriptions.order_by("space__name").select_related("space"))
    api = _as(api_client, token_for, admin_user)
    made = api.post(
        "/api/v1/rollouts/pipelines/",
        _body([subs[0].space], [s.space for s in subs[1:]]),
        format="json",
    )
    pipeline = Pipeline.objects.get(pk=made.json()["id"])
    subject = {"kind": "shared_item", "subject_id": str(item.pk)}
    api = _as(api_client, token_for, space_owner)
    assert api.post(f"/api/v1/rollouts/pipelines/{pipeline.pk}/attach/", subject).status_code == 200
    items.save_revision(item, variables_v(2))

    board = f"/rollouts/pipelines/{pipeline.pk}/"
    detach = f"{board}detach/"
    button = f'data-testid="detach-{item.pk}"'
    owner = login(space_owner)
    page = owner.get(board).content.decode()
    assert button in page and f'hx-post="{detach}"' in page and 'id="pipeline-board-box"' in page
    Instance.objects.get(name="subs").owners.add(member)  # sees the item as a subscriber
    watcher = login(member)
    seen = watcher.get(board).content.decode()
    assert item.name in seen and button not in seen  # the row, without the button
    assert item.name not in login(outsider).get(board).content.decode()

    assert login(outsider).post(detach, subject).status_code == 404
    assert watcher.post(detach, subject).status_code == 403
    assert owner.post(detach, {**subject, "subject_id": "not-a-uuid"}).status_code == 404
    assert owner.post(detach, {**subject, "kind": "nothing"}).status_code == 404
    assert owner.get(detach).status_code == 405
    assert PipelineSubject.objects.filter(pipeline=pipeline).exists()
    assert not AuditEntry.objects.filter(action="rollouts.pipeline.detach").exists()

    # htmx: the answer is the board itself, without the subject.
    answer = owner.post(detach, subject, HTTP_HX_REQUEST="true")
    assert answer.status_code == 200
    text = answer.content.decode()
    assert 'data-testid="pipeline-board"' in text and "<html" not in text
    assert f"{item.name} was taken out of {pipeline.name}" in text and button not in text
    assert not PipelineSubject.objects.exists()
    entry = AuditEntry.objects.get(action="rollouts.pipeline.detach")
    assert entry.actor == space_owner
    # Out of the pipeline (with no policy): the next revision goes to every subscriber.
    items.save_revision(item, variables_v(3))
    assert set(item.subscriptions.values_list("target_revision", flat=True)) == {3}

    # Without htmx (a plain form post): back to the board; nothing left to detach.
    again = owner.post(detach, subject)
    assert again.status_code == 302 and again["Location"] == board
    assert AuditEntry.objects.filter(action="rollouts.pipeline.detach").count() == 1
