"""Service accounts and invitations in the fleet configuration: exported without a secret,
applied through identity's services into an empty ODCM, re-applied as a no-op, and refused with
every error (and nothing written) when the file is wrong."""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from typing import Any

import pytest
import yaml
from allauth.socialaccount.models import SocialApp
from django.core import mail
from django.utils import timezone

from audit.models import AuditEntry
from fleetconfig import render
from fleetconfig.models import ManagedObject, Plan
from fleetconfig.services import apply_plan, export_text, make_plan, plan_and_apply
from identity import services as identity
from identity.models import ApiToken, Group, Invitation, ServiceAccount, User
from identity.services import invitations, service_accounts
from tests.conftest import make_user

from .conftest import wipe

pytestmark = pytest.mark.django_db(transaction=True)


def _link_key(message: Any) -> str:
    found = re.search(r"/invitations/([^/\s]+)/", message.body)
    assert found is not None, message.body
    return found.group(1)


def _later(days: int) -> str:
    when = timezone.now().replace(microsecond=0) + timedelta(days=days)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _writes() -> list[str]:
    """Audit entries other than the plans' and applies' own."""
    return list(
        AuditEntry.objects.exclude(action__startswith="config.").values_list("action", flat=True)
    )


@pytest.fixture
def accounts(fleet: dict[str, Any], admin_user: Any) -> dict[str, Any]:
    """On top of ``fleet``: a provider, an active service account (a member of its owner group,
    with a token), a deactivated one, a pending invitation and an accepted one."""
    SocialApp.objects.create(
        provider="openid_connect",
        provider_id="partnerco",
        name="PartnerCo",
        client_id="odcm",
        secret="s3cret-of-the-test-app",
        settings={"server_url": "https://login.partner.example"},
    )
    platform = Group.objects.get(name="Platform")
    bot = service_accounts.create_service_account(
        name="Deploy Bot", owner=platform, description="Ships releases", actor=admin_user
    )
    identity.update_group(platform, members=[*platform.members.all(), bot.user])
    _, api_token = service_accounts.create_service_token(
        bot, actor=admin_user, name="ci", expires_days=30
    )
    old = service_accounts.create_service_account(name="old", owner=platform, actor=admin_user)
    service_accounts.update_service_account(old, active=False, actor=admin_user)
    space = fleet["instances"][0].spaces.order_by("octopus_id")[0]
    pending, link_key = invitations.create(
        email="pat@partner.example",
        provider="partnerco",
        grants=[
            {"role": "deployer", "space": str(space.pk), "scope": {"environments": ["Test"]}},
            {"role": "viewer", "tag": "partner-visible"},  # a rule for them once they accept
        ],
        days=5,
        message="Welcome aboard",
        actor=admin_user,
    )
    done, done_key = invitations.create(
        email="sam@partner.example", provider="partnerco", days=2, actor=admin_user
    )
    Invitation.objects.filter(pk=done.pk).update(accepted_at=timezone.now())
    return {
        "secrets": [api_token, link_key, done_key],
        "space": space,
        "pending": pending,
        "bot": bot,
    }


def test_the_export_declares_accounts_and_pending_invitations_without_secrets(
    accounts: dict[str, Any],
) -> None:
    text = export_text()
    for secret in accounts["secrets"]:
        assert secret not in text
    doc = yaml.safe_load(text)
    assert doc["service_accounts"] == [
        {
            "name": "Deploy Bot",
            "owner": "Platform",
            "description": "Ships releases",
            "active": True,
        },
        {"name": "old", "owner": "Platform", "active": False},
    ]
    assert "svc-deploy-bot" in doc["groups"][0]["members"]
    assert doc["invitations"] == [
        {
            "email": "pat@partner.example",
            "provider": "partnerco",
            "expires_at": accounts["pending"].expires_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "message": "Welcome aboard",
            "grants": [
                {
                    "role": "deployer",
                    "instance": "cfg-a",
                    "space": accounts["space"].name,
                    "scope": {"environments": ["Test"]},
                },
                {"role": "viewer", "tag": "partner-visible"},
            ],
        }
    ]  # the accepted invitation is history, not configuration


def test_applying_the_export_again_writes_nothing(accounts: dict[str, Any]) -> None:
    text = export_text()
    sent, writes = len(mail.outbox), _writes()
    plan = make_plan(text)
    assert plan.changes == [] and render.text(plan) == "No changes: ODCM matches the file.\n"
    assert apply_plan(plan).status == Plan.Status.APPLIED and plan.result == []
    assert _writes() == writes and len(mail.outbox) == sent
    assert Invitation.objects.filter(revoked_at__isnull=True).count() == 2
    assert export_text() == text


def test_the_export_applied_to_an_empty_odcm_reproduces_them(
    accounts: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    before = export_text()
    wipe()
    assert not ServiceAccount.objects.exists() and not Invitation.objects.exists()
    caplog.set_level(logging.DEBUG)
    earlier = set(AuditEntry.objects.values_list("pk", flat=True))
    plan = plan_and_apply(before)
    assert plan.status == Plan.Status.APPLIED, plan.result
    assert export_text() == before
    # Made by identity's services: audited, the inactive one deactivated, the owner group
    # joined by the account after it was made.
    actions = list(AuditEntry.objects.exclude(pk__in=earlier).values_list("action", flat=True))
    assert actions.count("service_account.create") == 2 and "user.deactivate" in actions
    assert actions.count("invitation.create") == 1
    bot = ServiceAccount.objects.get(user__username="svc-deploy-bot")
    assert bot.user.first_name == "Deploy Bot" and bot.user.is_active
    assert Group.objects.get(name="Platform").members.filter(pk=bot.user.pk).exists()
    assert not ApiToken.objects.filter(user=bot.user).exists()  # tokens are never declared
    assert not User.objects.get(username="svc-old").is_active
    row = Invitation.objects.get()
    assert sorted(row.grants, key=lambda g: g["role"]) == [
        {
            "role": "deployer",
            "space": next(g["space"] for g in row.grants if "space" in g),
            "scope": {"environments": ["Test"]},
        },
        {"role": "viewer", "tag": "partner-visible", "scope": {}},
    ]
    # The new link went to the invitee only: not into the plan, its outcome, a log or the audit.
    (message,) = [m for m in mail.outbox if m.to == ["pat@partner.example"]][-1:]
    key = _link_key(message)
    seen = str(plan.changes) + str(plan.result) + render.text(plan) + caplog.text + export_text()
    assert key not in seen
    assert all(key not in f"{e.changes} {e.message}" for e in AuditEntry.objects.all())
    again = make_plan(before)
    assert again.change_count == 0, again.changes


def test_an_accepted_invitation_is_left_alone_and_a_pending_one_is_replaced(
    accounts: dict[str, Any],
) -> None:
    doc = yaml.safe_load(export_text())
    # Whatever the file says of an accepted one (even an expiry long past), nothing happens.
    doc["invitations"].append(
        {
            "email": "Sam@Partner.example",
            "provider": "elsewhere",
            "expires_at": "2020-01-01T00:00:00Z",
        }
    )
    later = _later(9)
    doc["invitations"][0]["expires_at"] = later
    plan = make_plan(yaml.safe_dump(doc))
    assert plan.status == Plan.Status.PLANNED, plan.issues
    (change,) = plan.changes
    assert (change["action"], change["kind"], change["key"]) == (
        "change",
        "invitation",
        "pat@partner.example",
    )
    assert [r["field"] for r in change["fields"]] == ["expires_at"]
    sent = len(mail.outbox)
    assert apply_plan(plan).status == Plan.Status.APPLIED, plan.result
    old = accounts["pending"]
    old.refresh_from_db()
    assert old.state == Invitation.State.REVOKED
    new = Invitation.objects.get(email="pat@partner.example", revoked_at__isnull=True)
    assert new.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ") == later
    assert len(mail.outbox) == sent + 1
    assert Invitation.objects.filter(email__iexact="sam@partner.example").count() == 1
    assert make_plan(yaml.safe_dump(doc)).changes == []


def test_a_service_account_is_changed_and_deactivated_through_identity(
    accounts: dict[str, Any],
) -> None:
    doc = yaml.safe_load(export_text())
    doc["service_accounts"][0].update(description="Ships everything", active=False)
    plan = make_plan(yaml.safe_dump(doc))
    (change,) = plan.changes
    assert change["key"] == "svc-deploy-bot"
    assert {r["field"]: r["after"] for r in change["fields"]} == {
        "description": "Ships everything",
        "active": False,
    }
    assert apply_plan(plan).status == Plan.Status.APPLIED, plan.result
    bot = ServiceAccount.objects.select_related("user").get(pk=accounts["bot"].pk)
    assert bot.description == "Ships everything" and not bot.user.is_active
    assert not ApiToken.objects.filter(user=bot.user, revoked_at__isnull=True).exists()
    assert {"service_account.update", "user.deactivate"} <= set(_writes())
    assert make_plan(yaml.safe_dump(doc)).changes == []


def test_prune_removes_only_the_accounts_and_invitations_an_apply_created(
    accounts: dict[str, Any],
) -> None:
    doc = yaml.safe_load(export_text())
    doc["service_accounts"].append({"name": "ci", "owner": "Platform"})
    doc["invitations"].append(
        {"email": "lee@partner.example", "provider": "partnerco", "expires_at": _later(3)}
    )
    assert plan_and_apply(yaml.safe_dump(doc)).status == Plan.Status.APPLIED
    assert ManagedObject.objects.filter(kind="service_account", key="svc-ci", created=True)
    assert make_plan(yaml.safe_dump(doc)).changes == []
    doc["service_accounts"], doc["invitations"] = [], []
    plan = make_plan(yaml.safe_dump(doc), prune=True)
    actions = {(c["kind"], c["key"]): c["action"] for c in plan.changes}
    assert actions == {
        ("service_account", "svc-ci"): "delete",
        ("invitation", "lee@partner.example"): "delete",
        ("service_account", "svc-deploy-bot"): "unmanaged",
        ("service_account", "svc-old"): "unmanaged",
        ("invitation", "pat@partner.example"): "unmanaged",
    }
    assert apply_plan(plan).status == Plan.Status.APPLIED, plan.result
    assert not User.objects.filter(username="svc-ci").exists()
    assert Invitation.objects.get(email="lee@partner.example").state == "revoked"
    assert ServiceAccount.objects.count() == 2
    accounts["pending"].refresh_from_db()
    assert accounts["pending"].state == Invitation.State.PENDING


def test_bad_accounts_and_invitations_are_refused_with_their_lines_and_nothing_is_written(
    accounts: dict[str, Any],
) -> None:
    doc = yaml.safe_load(export_text())
    doc["groups"][0]["description"] = "Would change too"
    make_user("svc-taken")  # a person, whatever their username says
    doc["service_accounts"] += [
        {"name": "ci", "owner": "Nobody"},
        {"name": "Taken", "owner": "Platform"},
    ]
    doc["invitations"] += [
        {"email": "not-an-address", "provider": "partnerco", "expires_at": _later(3)},
        {
            "email": "kim@partner.example",
            "provider": "partnerco",
            "expires_at": "2020-01-01T00:00:00Z",
        },
        {"email": "lou@partner.example", "provider": "nowhere", "expires_at": _later(40)},
    ]
    text = yaml.safe_dump(doc, sort_keys=False)
    lines = text.splitlines()
    writes, sent = _writes(), len(mail.outbox)
    plan = plan_and_apply(text)
    assert plan.status == Plan.Status.INVALID
    found = {(i["path"], i["line"]): i["message"] for i in plan.issues}
    assert found == {
        ("service_accounts[2].owner", lines.index("  owner: Nobody") + 1): (
            "No group named 'Nobody' (the owner is an ODCM group)."
        ),
        ("service_accounts[3].name", lines.index("- name: Taken") + 1): (
            "The username 'svc-taken' is a person's, not a service account's."
        ),
        ("invitations[1].email", lines.index("- email: not-an-address") + 1): (
            "Not an email address."
        ),
        ("invitations[2].expires_at", lines.index("- email: kim@partner.example") + 3): (
            "The expiry is in the past: give a later one, or remove the invitation."
        ),
        ("invitations[3].provider", lines.index("- email: lou@partner.example") + 2): (
            "Unknown sign-in provider 'nowhere' (known: partnerco)."
        ),
        ("invitations[3].expires_at", lines.index("- email: lou@partner.example") + 3): (
            "An invitation expires within 30 days."
        ),
    }
    assert _writes() == writes and len(mail.outbox) == sent
    assert not User.objects.filter(username="svc-ci").exists()
    assert Group.objects.get(name="Platform").description == ""
    assert Invitation.objects.count() == 2


def test_a_schema_error_names_the_field_and_does_not_echo_secrets() -> None:
    from fleetconfig.document import InvalidDocument, parse

    text = (
        "version: 1\nservice_accounts:\n  - name: ci\n    owner: G\n    token: odcm_abc_secret\n"
        "invitations:\n  - email: a@b.example\n    provider: p\n"
    )
    with pytest.raises(InvalidDocument) as caught:
        parse(text)
    found = {(i.line, i.path, i.message) for i in caught.value.issues}
    assert (5, "service_accounts[0].token", "Unknown field 'token'.") in found
    assert (7, "invitations[0]", "'expires_at' is required.") in found
    assert "odcm_abc_secret" not in str(caught.value)


def test_an_apply_by_someone_outside_the_owner_group_fails_for_that_account_only(
    accounts: dict[str, Any],
) -> None:
    outsider = make_user("olly")
    doc = yaml.safe_load(export_text())
    doc["service_accounts"].append({"name": "ci", "owner": "Platform"})
    doc["groups"][0]["description"] = "Applied anyway"
    plan = plan_and_apply(yaml.safe_dump(doc), actor=outsider)
    assert plan.status == Plan.Status.PARTIAL
    failed = [o for o in plan.result if not o["ok"]]
    assert failed == [
        {
            "key": "svc-ci",
            "kind": "service_account",
            "action": "create",
            "ok": False,
            "error": "Only administrators and members of the owner group may create its "
            "service accounts.",
        }
    ]
    assert not User.objects.filter(username="svc-ci").exists()
    assert Group.objects.get(name="Platform").description == "Applied anyway"


def test_the_export_through_the_api_holds_no_token(
    accounts: dict[str, Any], admin_user: Any
) -> None:
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(admin_user)
    answer = client.get("/api/v1/config/export/", {"only": ["service_accounts", "invitations"]})
    assert answer.status_code == 200
    body = answer.content.decode()
    assert "pat@partner.example" in body and "Deploy Bot" in body
    for secret in accounts["secrets"]:
        assert secret not in body
