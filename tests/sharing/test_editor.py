"""The variable editor: drafts kept server-side, masked sensitive values, scope pickers with the
publisher space's names, and the variable types Octopus has."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from audit.models import AuditEntry
from odcm.clients import client_for
from sharing.models import SharedItem
from sharing.secrets import secrets_of
from sharing.services import drafts, items

from .conftest import SECRET, make_set

pytestmark = pytest.mark.django_db

TYPED = "typed-into-the-DRAFT-4471"


def _rows(*rows: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = {"rows": str(len(rows))}
    for i, row in enumerate(rows):
        for field, value in row.items():
            data[f"v{i}-{field}"] = value
    return data


def _edit(item: SharedItem) -> str:
    return reverse("sharing:edit", args=[item.pk])


def _new_set(publisher: Any) -> SharedItem:
    return items.create_item(publisher, SharedItem.Kind.VARIABLE_SET, "Draft set")


def test_a_saved_draft_survives_a_reload_and_publishes_nothing(login, space_owner, pair):
    item = make_set(pair["publisher"])
    client = login(space_owner)
    rows = _rows(
        {"name": "Region", "value": "apac", "roles": "web"},
        {"name": "Added.Later", "value": "draft-only-value", "key": "k-added"},
    )
    saved = client.post(_edit(item), {**rows, "action": "draft"}, follow=True)
    page = saved.content.decode()
    assert "Draft saved (not published)." in page and "draft-only-value" in page
    item.refresh_from_db()
    assert item.latest_revision == 1 and item.revisions.count() == 1
    # A fresh page load (another browser, the next day) shows the draft, not revision 1.
    again = client.get(_edit(item)).content.decode()
    assert 'data-testid="draft-banner"' in again
    assert "draft-only-value" in again and "Api.Url" not in again
    assert AuditEntry.objects.filter(action="sharing.draft.save").count() == 1


def test_a_sensitive_value_typed_into_a_draft_is_sealed_and_never_rendered_back(
    login, space_owner, pair
):
    item = _new_set(pair["publisher"])
    client = login(space_owner)
    rows = _rows({"name": "Db.Password", "type": "Sensitive", "value": TYPED, "key": "k-pw"})
    client.post(_edit(item), {**rows, "action": "draft"})
    item.refresh_from_db()
    assert TYPED not in str(item.draft) and TYPED not in item.draft_secrets
    assert item.draft_secrets  # sealed, not dropped
    page = client.get(_edit(item)).content.decode()
    assert TYPED not in page
    assert 'type="password"' in page and "has value (blank keeps it)" in page
    # Publishing with the field left blank uses the value typed into the draft.
    published = client.post(_edit(item), {**_rows({"name": "Db.Password", "type": "Sensitive",
                                                   "value": "", "key": "k-pw"}),
                                          "action": "publish"}, follow=True)  # fmt: skip
    assert "Published revision 1." in published.content.decode()
    item.refresh_from_db()
    assert secrets_of(items.latest(item)) == {"k-pw": TYPED}
    assert item.draft == {} and item.draft_secrets == ""


def test_a_refused_publish_keeps_every_typed_row_as_the_draft(login, space_owner, pair):
    item = _new_set(pair["publisher"])
    client = login(space_owner)
    rows = _rows(
        {"name": "Kept", "value": "keep-me", "key": "k1"},
        {"name": "No.Value.Yet", "type": "Sensitive", "value": "", "key": "k2"},
    )
    response = client.post(_edit(item), {**rows, "action": "publish"})
    page = response.content.decode()
    assert response.status_code == 200
    assert "The sensitive variable &#x27;No.Value.Yet&#x27; needs a value." in page
    assert "keep-me" in page
    item.refresh_from_db()
    assert item.latest_revision == 0
    assert [v["name"] for v in item.draft["content"]["variables"]] == ["Kept", "No.Value.Yet"]
    assert item.draft["needs_values"] == ["No.Value.Yet"]


def test_discarding_the_draft_goes_back_to_the_latest_revision(login, space_owner, pair):
    item = make_set(pair["publisher"])
    client = login(space_owner)
    rows = _rows({"name": "Only.In.Draft", "type": "Sensitive", "value": TYPED, "key": "k9"})
    client.post(_edit(item), {**rows, "action": "draft"})
    discarded = client.post(_edit(item), {"action": "discard"}, follow=True)
    page = discarded.content.decode()
    assert "Draft discarded" in page and "Only.In.Draft" not in page and "Api.Url" in page
    item.refresh_from_db()
    assert item.draft == {} and item.draft_secrets == ""
    assert AuditEntry.objects.filter(action="sharing.draft.discard").count() == 1


def test_a_draft_keeps_a_published_secret_without_copying_it(pair):
    item = make_set(pair["publisher"])
    latest = items.latest(item)
    assert latest is not None
    rows = [dict(v) for v in latest.content["variables"]]
    drafts.save_draft(item, {"variables": rows})
    item.refresh_from_db()
    # The published secret stays on the revision: the draft needs no copy of it.
    assert item.draft_secrets == "" and item.draft["needs_values"] == []
    saved = drafts.publish(item, {"variables": rows})
    assert not saved.created  # same rows, same secret: no new revision
    assert secrets_of(items.latest(item))["password"] == SECRET


def test_scope_pickers_offer_the_publisher_spaces_names(login, space_owner, pair):
    item = make_set(pair["publisher"])
    page = login(space_owner).get(_edit(item)).content.decode()
    # Environments of the publisher's space (seed 101) by name, picked ones selected.
    assert (
        '<select class="form-select form-select-sm" multiple size="3" name="v0-environments"'
        in page
    )
    assert '<option value="Production" selected>Production</option>' in page
    assert '<option value="Development">Development</option>' in page
    assert 'name="v3-roles"' in page and '<option value="web" selected>web</option>' in page
    # No tenant tags in that space: typed names instead of an empty picker.
    assert 'name="v0-tenant_tags" value=""' in page


def test_picked_scopes_are_saved_as_names(login, space_owner, pair):
    item = _new_set(pair["publisher"])
    client = login(space_owner)
    data = _rows({"name": "Url", "value": "https://x", "key": "u"})
    data["v0-environments"] = ["Production", "Development"]
    client.post(_edit(item), {**data, "action": "publish"})
    item.refresh_from_db()
    latest = items.latest(item)
    assert latest is not None
    assert latest.content["variables"][0]["scope"]["environments"] == ["Development", "Production"]


def test_the_editor_works_when_octopus_cannot_be_reached(login, space_owner, pair):
    item = make_set(pair["publisher"])
    pair["sim_a"].set_faults(error_rate=1.0, error_status=503)
    try:
        page = login(space_owner).get(_edit(item)).content.decode()
    finally:
        pair["sim_a"].clear_faults()
    assert "Could not read" in page and "typed as names" in page
    assert 'name="v0-environments" value="Production"' in page


def test_the_editor_lists_octopus_variable_types(login, space_owner, pair):
    item = make_set(pair["publisher"])
    page = login(space_owner).get(_edit(item)).content.decode()
    for value in ("String", "Sensitive", "Certificate", "AmazonWebServicesAccount", "WorkerPool"):
        assert f'<option value="{value}"' in page


def test_import_lists_the_publisher_spaces_sets_and_templates_by_name(login, space_owner, pair):
    client = login(space_owner)
    publisher = pair["publisher"]
    page = client.get(reverse("sharing:import"), {"publisher": publisher.pk}).content.decode()
    with client_for(pair["inst_a"]) as octopus:
        sets = octopus.get(f"/api/{publisher.octopus_id}/libraryvariablesets/all")
        templates = octopus.get(f"/api/{publisher.octopus_id}/actiontemplates/all")
    assert sets and templates
    for lvs in sets:
        assert f'value="{lvs["Id"]}"' in page and lvs["Name"] in page
    for tpl in templates:
        assert f'value="{tpl["Id"]}"' in page
    # Picking one imports it: no Octopus id typed anywhere.
    plain = next(s for s in sets if s["ContentType"] == "Variables")
    imported = client.post(
        f"{reverse('sharing:import')}?publisher={publisher.pk}",
        {
            "which": "vs",
            "publisher": publisher.pk,
            "library_variable_set_id": plain["Id"],
            "policy": "push",
        },
    )
    item = SharedItem.objects.get(publisher=publisher, name=plain["Name"])
    assert imported.status_code == 302 and str(item.pk) in imported["Location"]
    again = client.get(reverse("sharing:import"), {"publisher": publisher.pk}).content.decode()
    assert "already shared" in again


def test_import_without_a_pick_says_so_and_imports_nothing(login, space_owner, pair):
    client = login(space_owner)
    publisher = pair["publisher"]
    response = client.post(
        reverse("sharing:import"), {"which": "vs", "publisher": publisher.pk, "policy": "push"}
    )
    assert response.status_code == 200
    assert "Pick a library variable set" in response.content.decode()
    assert not SharedItem.objects.exists()


def test_import_lists_only_spaces_the_user_manages(login, member, pair):
    page = login(member).get(reverse("sharing:import"), {"publisher": pair["publisher"].pk})
    assert pair["publisher"].name not in page.content.decode()


def test_reference_types_suggest_the_publisher_spaces_names(login, space_owner, pair):
    item = _new_set(pair["publisher"])
    client = login(space_owner)
    data = _rows({"name": "Pool", "type": "WorkerPool", "value": "Hosted Ubuntu", "key": "p"})
    client.post(_edit(item), {**data, "action": "draft"})
    page = client.get(_edit(item)).content.decode()
    assert '<datalist id="refs-workerpools"><option value="Default Worker Pool">' in page
    assert 'value="Hosted Ubuntu" aria-label="Value 0" list="refs-workerpools"' in page
    assert '<option value="WorkerPool" data-list="refs-workerpools" selected>' in page


def test_the_subscription_page_links_to_the_copy_in_octopus_and_octosim_shows_it(
    login, space_owner, pair
):
    import httpx

    from sharing.services import delivery

    from .conftest import subscribe

    item = make_set(pair["publisher"])
    sub = subscribe(item, pair["subscriber"])
    sub.refresh_from_db()
    delivery.run(str(sub.pk), sub.target_revision)
    sub.refresh_from_db()
    url = f"{pair['inst_b'].base_url}/app#/Spaces-1/library/variables/{sub.octopus_id}"
    page = login(space_owner).get(reverse("sharing:subscription", args=[sub.pk]))
    assert f'href="{url}"' in page.content.decode()
    # octosim answers that deep link with the copy (the hash is read by its page's script).
    view = httpx.get(
        f"{pair['inst_b'].base_url}/app/view",
        params={"path": url.split("#", 1)[1]},
        trust_env=False,
    )
    assert view.status_code == 200 and f"<h1>{item.name}</h1>" in view.text
    assert SECRET not in view.text
