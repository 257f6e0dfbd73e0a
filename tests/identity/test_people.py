"""People administration: deactivating a person ends their access everywhere (sessions,
tokens, managed Octopus teams); resetting their second factor."""

from __future__ import annotations

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.test import Client

from audit.models import AuditEntry
from identity import services
from identity.models import ApiToken, Role
from identity.services import people, teams
from identity.services.tokens import create_token
from spaces.models import Space
from tests.conftest import PASSWORD, make_user
from tests.identity.conftest import managed_teams

pytestmark = pytest.mark.django_db


def test_deactivating_a_person_ends_sessions_tokens_and_their_octopus_teams(enlisted, make_group):
    alice = make_user("alice")  # Users-3 in octosim, matched by username
    group = make_group("Platform", [alice])
    target = Space.objects.get(instance=enlisted, octopus_id="Spaces-2")
    services.grant(group, Role.DEPLOYER, space=target)
    teams.sync_spaces([target.pk])
    assert managed_teams(enlisted, "Spaces-2")[0]["MemberUserIds"] == ["Users-3"]
    token, _ = create_token(alice, name="laptop")
    browser = Client()
    assert (
        browser.post("/accounts/login/", {"login": "alice", "password": PASSWORD}).status_code
        == 302
    )
    assert browser.get("/account/tokens/").status_code == 200

    admin = Client()
    admin.force_login(make_user("root", admin=True))
    page = admin.post(f"/access/users/{alice.uuid}/deactivate/", follow=True)
    assert b"deactivated everywhere" in page.content

    alice.refresh_from_db()
    assert not alice.is_active
    assert ApiToken.objects.get(pk=token.pk).revoked_at is not None
    assert browser.get("/account/tokens/").status_code == 302  # signed out
    teams.sync_spaces([target.pk])  # what the queued task does after commit
    assert managed_teams(enlisted, "Spaces-2")[0]["MemberUserIds"] == []
    assert AuditEntry.objects.filter(action="user.deactivate").count() == 1


def test_administrators_cannot_deactivate_themselves():
    root = make_user("root", admin=True)
    with pytest.raises(people.PeopleError):
        people.deactivate(root, actor=root)


def test_reset_mfa_removes_the_second_factor(member):
    TOTP.activate(member, generate_totp_secret())
    admin = Client()
    admin.force_login(make_user("root", admin=True))
    admin.post(f"/access/users/{member.uuid}/reset-mfa/")
    assert not Authenticator.objects.filter(user=member).exists()
    assert AuditEntry.objects.filter(action="user.reset_mfa").count() == 1


def test_people_actions_are_for_administrators_only(member, outsider):
    client = Client()
    client.force_login(outsider)
    assert client.post(f"/access/users/{member.uuid}/deactivate/").status_code == 404
    member.refresh_from_db()
    assert member.is_active
