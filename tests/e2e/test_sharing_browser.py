"""A publisher shares a variable set with a sensitive value; a subscriber syncs it on demand."""

from __future__ import annotations

import re
from typing import Any

import pytest

from sharing.models import SharedItem, Subscription
from sharing.services import items
from tests.conftest import PASSWORD, make_user
from tests.sharing.conftest import enlist_sim, space_of, trust

SECRET = "browser-SENSITIVE-plaintext-3390"


def sign_in(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_login", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("[data-testid=dashboard-title]")


def sign_out(page: Any) -> None:
    page.click("[data-testid=user-menu]")
    page.click("text=Sign out")


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_publisher_shares_a_set_and_subscriber_syncs_on_demand(
    live_server, page, make_sim_instance, start_celery_worker
):
    start_celery_worker(concurrency=1)
    owen, mia = make_user("owen"), make_user("mia")
    inst_a = enlist_sim(make_sim_instance("browser-pub", seed=101), owners=[owen])
    inst_b = enlist_sim(make_sim_instance("browser-sub", spaces=2, seed=202), owners=[mia])
    publisher, subscriber = space_of(inst_a), space_of(inst_b)
    trust(publisher, subscriber)
    base = live_server.url

    # The publisher creates the set and publishes revision 1 with a sensitive value.
    sign_in(page, base, "owen")
    page.click("nav >> text=Sharing")
    page.click("[data-testid=new-set]")
    page.select_option("#id_publisher", str(publisher.pk))
    page.fill("#id_name", "Platform defaults")
    page.select_option("#id_policy", "subscriber_chooses")
    page.click("button:has-text('Create')")
    page.fill("[name=v0-name]", "Db.Password")
    page.select_option("[name=v0-type]", "Sensitive")
    page.fill("[name=v1-name]", "Api.Url")
    page.fill("[name=v1-value]", "https://one.example")
    page.select_option("[name=v1-environments]", "Production")
    page.fill("[name=v0-value]", SECRET)
    page.click("button:has-text('Publish revision')")
    page.wait_for_selector("text=Published revision 1.")
    table = page.inner_text("[data-testid=variables]")
    assert "has value" in table and SECRET not in page.content()
    sign_out(page)

    # The subscriber subscribes on demand, sees the update with its diff, and syncs.
    sign_in(page, base, "mia")
    page.click("nav >> text=Sharing")
    page.click("[data-testid=offered] >> text=Platform defaults")
    page.select_option("[data-testid=subscribe-form] select[name=space]", str(subscriber.pk))
    page.select_option("[data-testid=subscribe-form] select[name=mode]", "on_demand")
    page.click("button:has-text('Subscribe')")
    update = page.inner_text("[data-testid=update]")
    assert "Update available: nothing delivered yet → r1" in update and "Api.Url" in update
    assert "value: (sensitive)" in update and SECRET not in page.content()
    with page.expect_navigation():  # the form posts and redirects: reload only after it
        page.click("[data-testid=sync-now]")
    sub = Subscription.objects.get(space=subscriber)

    def shows(text: str) -> bool:
        for _ in range(60):
            page.reload()
            if text in page.inner_text("main"):
                return True
            page.wait_for_timeout(500)
        return False

    assert shows("In sync")
    item = SharedItem.objects.get(name="Platform defaults")
    content = items.latest(item).content  # type: ignore[union-attr]
    content["variables"][1]["value"] = "https://two.example"
    items.save_revision(item, content)
    assert shows("Update available: r1 → r2")
    diff = page.inner_text("[data-testid=diff]")
    assert re.search(r"https://one\.example\s*→\s*https://two\.example", diff)
    with page.expect_navigation():  # the form posts and redirects: reload only after it
        page.click("[data-testid=sync-now]")
    assert shows("In sync")
    sub.refresh_from_db()
    assert sub.delivered_revision == 2 and SECRET not in page.content()
