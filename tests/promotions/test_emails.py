"""Emails of promotions, with real octosim instances and a real second web server: a bundle
waits for review; an import fails; a receipt cannot be delivered to the source (one email
per receipt, however many retries)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core import mail

from octosim.testing import SimInstance
from odcm.clients import client_for
from promotions.errors import PromotionError
from promotions.models import InboundBundle, Receipt, RemoteSpace
from promotions.services import bundles, importing, inbox, routes, transfer
from tests.conftest import make_user
from tests.octopus.pipeline_helpers import SPACE

from .test_routes import accept_releases, make_world

pytestmark = pytest.mark.django_db(transaction=True)


def test_owners_are_told_when_a_bundle_waits_and_when_its_import_fails(
    make_sim_instance: Callable[..., SimInstance], tmp_path: Path
) -> None:
    world = make_world(make_sim_instance, tmp_path)
    world.target.instance.owners.add(make_user("tess"))
    accept_releases(world)
    route = routes.save_route(
        world.source,
        world.pipe.project["Id"],
        [routes.StageInput(position=1, target=world.target_peer)],
    )
    with client_for(world.source.instance) as c:
        release = c.create_release_v1(
            SPACE, world.pipe.name, version="1.0.0", packages=["Deploy web:1.0.0"]
        )
    promotion = bundles.build(world.source, route, release.release_id, world.target_peer)
    bundle, _ = inbox.receive(promotion.token)
    (waiting,) = mail.outbox
    assert waiting.to == ["tess@example.com"] and "waits for review" in waiting.subject
    assert f"/promotions/inbox/{bundle.pk}/" in waiting.body

    # Air-gapped without the package archive: the package is not in the target's feed.
    with pytest.raises(PromotionError, match="not in this space's feed"):
        importing.import_bundle(bundle, None)
    bundle.refresh_from_db()
    assert bundle.state == InboundBundle.State.FAILED
    failed = mail.outbox[-1]
    assert "failed" in failed.subject and "import the package archive" in failed.body
    assert len(mail.outbox) == 2


def test_a_receipt_the_source_refuses_is_emailed_once_and_retried(
    live_server: Any, make_sim_instance: Callable[..., SimInstance], tmp_path: Path
) -> None:
    world = make_world(make_sim_instance, tmp_path)
    world.target.instance.owners.add(make_user("tess"))
    # The source as another ODCM reachable over HTTP (this test's live server), which does
    # not know this receipt's signer.
    source = RemoteSpace.objects.create(name="Elsewhere", url=live_server.url)
    receipt = Receipt.objects.create(
        direction=Receipt.Direction.OUT,
        space=world.target,
        peer=source,
        bundle_id=uuid.uuid4(),
        release_version="1.0.0",
        environment="Production",
        outcome="Success",
        task_id="ServerTasks-9",
        token="not.a.receipt",
    )
    assert transfer.send_receipt(str(receipt.pk)) == "failed"
    (sent,) = mail.outbox
    assert "could not be delivered" in sent.subject and "Elsewhere refused" in sent.body
    Receipt.objects.filter(pk=receipt.pk).update(next_attempt_at=None)
    assert transfer.send_receipt(str(receipt.pk)) == "failed"
    receipt.refresh_from_db()
    assert receipt.attempts == 2 and not receipt.delivered
    assert len(mail.outbox) == 1
