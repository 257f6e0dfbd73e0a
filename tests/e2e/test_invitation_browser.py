"""An outside person accepts an invitation in a browser: the emailed link (a real SMTP server),
sign-in through the named provider (a real OpenID Provider, node-oidc-provider) with no ODCM
account beforehand and sign-up invite-only, and the invitation's grants attached."""

from __future__ import annotations

import re

import pytest
from allauth.socialaccount.models import SocialAccount

from identity.models import Grant, Invitation, Role, User
from identity.services import invitations
from spaces.models import Instance, Space
from tests.e2e.test_oidc_browser import world
from tests.fixtures import oidc as oidc_fixtures
from tests.fixtures.oidc import OIDCProvider
from tests.monitoring import conftest as mail_fixtures

oidc_provider = oidc_fixtures.oidc_provider  # the fixtures, for the tests below
smtp_server = mail_fixtures.smtp_server


def _provider_sign_in(page, login: str) -> None:
    page.wait_for_selector("input[name=login]")  # the provider's own login form
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", "anything")
    page.click("button[type=submit]")
    page.wait_for_selector("button[type=submit]:has-text('Continue')")  # consent
    page.click("button[type=submit]:has-text('Continue')")


@pytest.mark.django_db(transaction=True)
def test_an_invited_outsider_signs_in_with_their_provider_and_gets_the_grants(
    live_server, page, oidc_provider: OIDCProvider, smtp_server, settings, admin_user
):
    settings.ODCM_SITE_URL = live_server.url
    spaces = world()  # invite-only sign-up (the default)
    oidc_provider.social_app()
    ops = spaces["ops"]
    invitations.create(
        email="alice@corp.example",
        provider="testidp",
        grants=[{"role": "deployer", "space": str(ops.pk), "scope": {"environments": ["Test"]}}],
        actor=admin_user,
    )
    (message,) = smtp_server.sink.by_recipient()["alice@corp.example"]
    found = re.search(r"http\S+/invitations/\S+/", message.get_content())
    assert found is not None
    link = found.group(0)

    page.goto(link)
    page.click("[data-testid=invitation-sign-in]")
    _provider_sign_in(page, "alice")
    page.wait_for_url(f"{live_server.url}/account/access/")
    assert "invitation is accepted" in page.content()
    rows = [r.inner_text() for r in page.locator("[data-testid=my-space]").all()]
    assert any("ops" in r and "deployer" in r and "environments Test" in r for r in rows), rows

    alice = User.objects.get(email="alice@corp.example")  # made by the invitation's sign-in
    assert SocialAccount.objects.filter(user=alice, provider="testidp").exists()
    grant = Grant.objects.get(user=alice)
    assert (grant.role, grant.space, grant.scope) == (
        Role.DEPLOYER,
        ops,
        {"environments": ["Test"]},
    )
    invitation = Invitation.objects.get()
    assert invitation.accepted_by == alice and invitation.state == "accepted"

    # The link is used: opening it again says so, and nothing more is given.
    page.goto(link)
    assert "already been used" in page.inner_text("[data-testid=invitation-problem]")
    assert Grant.objects.filter(user=alice).count() == 1
    assert Instance.objects.count() == 1 and Space.objects.count() == 3
