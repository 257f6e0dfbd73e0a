"""A person signed in to an Octopus instance (octosim) through ODCM loses that session when
ODCM revokes their grant, and when they are deactivated: ODCM calls RevokeSessions."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from audit.models import AuditEntry
from identity import services
from identity.models import Role
from identity.services import people, teams
from spaces.models import Space
from tests.conftest import PASSWORD, make_user
from tests.e2e.test_octopus_signin_browser import (
    api_status,
    configured_instance,
    landed,
    sign_in_through_odcm,
)


@pytest.fixture
def eager_celery() -> Iterator[None]:
    import identity.tasks  # noqa: F401 - registers the tasks in this process
    from odcm.celery import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


def _sign_in(page: Any, sim_url: str, username: str, *, first: bool) -> None:
    sign_in_through_odcm(page, sim_url)
    if first:
        page.wait_for_selector("#id_login")
        page.fill("#id_login", username)
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]")
    landed(page, f"{sim_url}/app")


@pytest.mark.django_db(transaction=True)
def test_revoking_a_grant_or_deactivating_ends_the_persons_octopus_session(
    live_server: Any, page: Any, sim_instance: Any, settings: Any, admin_user: Any, eager_celery
) -> None:
    inst = configured_instance(sim_instance, settings, live_server)
    mia = make_user("mia.k")
    apps = Space.objects.get(instance=inst, octopus_id="Spaces-2")
    grant = services.grant(mia, Role.DEPLOYER, space=apps)  # to her alone
    teams.sync_spaces([apps.pk])

    _sign_in(page, sim_instance.url, "mia.k", first=True)
    assert page.inner_text("[data-user]") == "mia.k"
    teams_now = [t.inner_text() for t in page.locator("[data-team]").all()]
    assert "ODCM · mia.k alone (Deployer)" in teams_now  # landed there by her own claim
    me = f"{sim_instance.url}/api/users/me"
    assert api_status(page, me) == 200

    services.revoke(grant, actor=admin_user)  # the push and RevokeSessions run at commit
    assert api_status(page, me) == 401  # her Octopus session is over, not at next sign-in
    assert AuditEntry.objects.filter(
        action="user.octopus_sessions", message__contains="sessions of 1 Octopus user(s) ended"
    ).exists()

    _sign_in(page, sim_instance.url, "mia.k", first=False)  # still signed in to ODCM
    assert page.locator("[data-space]").count() == 0 and api_status(page, me) == 200
    people.deactivate(mia, actor=admin_user)
    assert api_status(page, me) == 401
