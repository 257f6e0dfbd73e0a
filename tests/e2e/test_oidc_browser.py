"""Single sign-on in a browser against a real OpenID Provider (node-oidc-provider)."""

from __future__ import annotations

from typing import Any

import pytest
from allauth.socialaccount.models import SocialAccount

from audit.models import AuditEntry
from identity import services
from identity.models import Role, User, UserExternalGroup
from odcm.crypto import seal
from spaces.models import Instance, Space
from tests.fixtures import oidc as oidc_fixtures
from tests.fixtures.oidc import OIDCProvider

oidc_provider = oidc_fixtures.oidc_provider  # the fixture, for the tests below


def world() -> dict[str, Space]:
    inst = Instance(name="Prod", slug="prod", base_url="http://127.0.0.1:9/prod")
    seal(inst, "api_key", "API-XXXXXXXXXXXXXXXXXXXXXXXXXX")
    inst.save()
    spaces = {
        name: Space.objects.create(instance=inst, octopus_id=f"Spaces-{n}", name=name, slug=name)
        for n, name in enumerate(["apps", "ops", "data"], start=1)
    }
    platform = services.create_group(name="Platform", external_groups=["platform-engineers"])
    ops = services.create_group(name="Ops", external_groups=["ops"])
    services.grant(platform, Role.DEPLOYER, space=spaces["apps"])
    services.grant(ops, Role.MANAGER, space=spaces["ops"])
    return spaces


def sign_in_at_provider(page: Any, live_server: Any, login: str) -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.click("text=Sign in with Test IdP")
    page.wait_for_selector("input[name=login]")  # the provider's own login form
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", "anything")
    page.click("button[type=submit]")
    page.wait_for_selector("button[type=submit]:has-text('Continue')")  # consent
    page.click("button[type=submit]:has-text('Continue')")


@pytest.mark.django_db(transaction=True)
def test_sso_sign_in_lands_seeing_exactly_the_spaces_its_groups_grant(
    live_server, page, oidc_provider: OIDCProvider, settings
):
    settings.ODCM_OIDC_SIGNUP = "open"
    world()
    oidc_provider.social_app()

    sign_in_at_provider(page, live_server, "alice")
    page.wait_for_url(f"{live_server.url}/")
    page.goto(f"{live_server.url}/account/access/")
    rows = [r.inner_text() for r in page.locator("[data-testid=my-space]").all()]
    assert len(rows) == 1 and "apps" in rows[0] and "deployer" in rows[0], rows

    alice = User.objects.get(email="alice@corp.example")
    groups = UserExternalGroup.objects.filter(user=alice).values_list("source", "value")
    assert list(groups) == [("oidc:testidp", "platform-engineers")]


@pytest.mark.django_db(transaction=True)
def test_invite_only_links_an_existing_account_by_verified_email(
    live_server, page, oidc_provider: OIDCProvider
):
    world()
    oidc_provider.social_app()
    invited = User.objects.create_user(username="alice.a", email="alice@corp.example")

    sign_in_at_provider(page, live_server, "alice")
    page.wait_for_url(f"{live_server.url}/")
    assert User.objects.count() == 1
    assert SocialAccount.objects.filter(user=invited).count() == 1


@pytest.mark.django_db(transaction=True)
def test_invite_only_refuses_people_nobody_invited_and_unverified_emails(
    live_server, page, oidc_provider: OIDCProvider
):
    oidc_provider.social_app()
    # bob's provider says his email is not verified: no link, even though an account has it.
    User.objects.create_user(username="bobby", email="bob@corp.example")
    sign_in_at_provider(page, live_server, "bob")
    page.wait_for_selector("[data-testid=signup-closed]")
    assert User.objects.count() == 1
    assert not SocialAccount.objects.exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("signature", "signature is not valid"),
        ("audience", "wrong audience"),
        ("nonce", "nonce does not match"),
        ("expired", "expired"),
    ],
)
def test_a_bad_id_token_is_refused_with_a_clear_message(
    live_server, page, oidc_provider: OIDCProvider, settings, mode: str, message: str
):
    settings.ODCM_OIDC_SIGNUP = "open"
    oidc_provider.social_app()
    oidc_provider.tamper(mode)

    sign_in_at_provider(page, live_server, "alice")
    error = page.inner_text("[data-testid=sso-error]")
    assert message in error, error
    assert not User.objects.exists()
    assert AuditEntry.objects.filter(action="auth.sso_failed").exists()


@pytest.mark.django_db(transaction=True)
def test_a_response_with_a_wrong_state_is_refused(live_server, page, oidc_provider, settings):
    settings.ODCM_OIDC_SIGNUP = "open"
    oidc_provider.social_app()
    page.goto(
        f"{live_server.url}/accounts/oidc/testidp/login/callback/?code=abc&state=forged-state"
    )
    error = page.inner_text("[data-testid=sso-error]")
    assert "did not match a sign-in started from this browser" in error
    assert not User.objects.exists()
