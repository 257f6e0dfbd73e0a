"""The variable editor in a browser: rows added as a draft that survives a reload, sensitive
values typed into masked fields and never shown again; octosim's web view behind "Open in
Octopus"."""

from __future__ import annotations

import pytest

from sharing.models import SharedItem
from sharing.secrets import secrets_of
from sharing.services import items
from tests.conftest import make_user
from tests.e2e.test_sharing_browser import sign_in
from tests.sharing.conftest import enlist_sim, space_of

SECRET = "masked-BROWSER-secret-5521"


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_a_draft_survives_a_reload_and_sensitive_values_stay_masked(
    live_server, page, make_sim_instance
):
    owen = make_user("owen")
    publisher = space_of(enlist_sim(make_sim_instance("editor-pub", seed=101), owners=[owen]))
    item = items.create_item(publisher, SharedItem.Kind.VARIABLE_SET, "Platform")
    items.save_revision(item, {"variables": [{"name": "Region", "value": "emea"}]})
    sign_in(page, live_server.url, "owen")
    page.goto(f"{live_server.url}/sharing/items/{item.pk}/edit/")

    # "Add variable" appends a row in the page (editor.js); it starts as plain text.
    rows_before = page.locator("[data-editor-row]").count()
    page.click("[data-testid=add-variable]")
    new = page.locator("[data-editor-row]").nth(rows_before)
    new.locator("[data-testid=var-name]").fill("Db.Password")
    value = new.locator("[data-testid=var-value]")
    value.fill(SECRET)
    assert value.get_attribute("type") == "text"
    # Switching the row to Sensitive masks what is already typed.
    new.locator("[data-editor-type]").select_option("Sensitive")
    assert value.get_attribute("type") == "password"
    new.locator("[data-testid=scope-environments]").select_option(["Production", "Test"])
    page.click("[data-testid=save-draft]")
    page.wait_for_selector("text=Draft saved (not published).")
    item.refresh_from_db()
    assert item.latest_revision == 1  # a draft publishes nothing

    # A reload (a new page load) shows the draft: the row is there, its value is not.
    page.reload()
    page.wait_for_selector("[data-testid=draft-banner]")
    assert SECRET not in page.content()
    row = page.locator("[data-editor-row]", has=page.locator("input[value='Db.Password']"))
    masked = row.locator("[data-testid=var-value]")
    assert masked.get_attribute("type") == "password" and masked.input_value() == ""
    assert masked.get_attribute("placeholder") == "has value (blank keeps it)"
    picked = row.locator("[data-testid=scope-environments] option:checked").all_inner_texts()
    assert sorted(picked) == ["Production", "Test"]

    # Publishing with the masked field left blank uses the value typed into the draft.
    page.click("[data-testid=publish]")
    page.wait_for_selector("text=Published revision 2.")
    item.refresh_from_db()
    latest = items.latest(item)
    assert latest is not None and SECRET in secrets_of(latest).values()
    assert SECRET not in page.content()

    # A new draft can be thrown away: the editor goes back to revision 2.
    page.goto(f"{live_server.url}/sharing/items/{item.pk}/edit/")
    page.locator("[data-testid=var-name]").first.fill("Renamed.In.Draft")
    page.click("[data-testid=save-draft]")
    page.wait_for_selector("[data-testid=draft-banner]")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("[data-testid=discard-draft]")
    page.wait_for_selector("text=Draft discarded")
    assert page.locator("[data-testid=draft-banner]").count() == 0
    assert page.locator("input[value='Renamed.In.Draft']").count() == 0


@pytest.mark.e2e
def test_open_in_octopus_lands_on_octosims_web_view(page, sim_instance):
    page.goto(f"{sim_instance.url}/app#/Spaces-1")
    page.wait_for_selector("[data-testid=octosim-banner]")
    page.wait_for_selector("h1:has-text('dashboard')")
    first = page.locator("#view a[href^='#/Spaces-1/projects/']").first
    name = first.inner_text()
    first.click()  # a hash change: the script fetches the project's view
    page.wait_for_selector(f"h1:text-is('{name}')")
    assert page.url.startswith(f"{sim_instance.url}/app#/Spaces-1/projects/")
