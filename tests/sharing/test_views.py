"""The sharing pages: publisher and subscriber views, the editor, access, query counts."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from sharing.models import SharedItem, Subscription
from sharing.services import delivery, drift, queueing

from .conftest import SECRET, make_set, subscribe

pytestmark = pytest.mark.django_db


def test_publisher_creates_a_set_in_the_editor_and_the_secret_is_never_rendered(
    login, space_owner, pair
):
    client = login(space_owner)
    made = client.post(
        reverse("sharing:create"),
        {
            "publisher": pair["publisher"].pk,
            "name": "Web",
            "description": "",
            "policy": "push",
        },
    )
    item = SharedItem.objects.get(name="Web")
    assert made.status_code == 302 and made["Location"] == reverse("sharing:edit", args=[item.pk])
    saved = client.post(
        reverse("sharing:edit", args=[item.pk]),
        {
            "rows": "2",
            "v0-name": "Token",
            "v0-type": "Sensitive",
            "v0-value": SECRET,
            "v0-environments": "Production",
            "v0-roles": "",
            "v0-tenant_tags": "",
            "v1-name": "Url",
            "v1-type": "String",
            "v1-value": "https://x",
            "v1-environments": "",
        },
        follow=True,
    )
    page = saved.content.decode()
    assert "Published revision 1." in page and "has value" in page and SECRET not in page
    editor = client.get(reverse("sharing:edit", args=[item.pk])).content.decode()
    assert SECRET not in editor and "blank keeps it" in editor
    # Saving again with the sensitive field blank keeps the value: no new revision.
    key = item.revisions.get().content["variables"][0]["key"]
    again = client.post(
        reverse("sharing:edit", args=[item.pk]),
        {
            "rows": "2",
            "v0-key": key,
            "v0-name": "Token",
            "v0-type": "Sensitive",
            "v0-value": "",
            "v0-environments": "Production",
            "v1-name": "Url",
            "v1-value": "https://x",
        },
        follow=True,
    )
    assert "Nothing changed" in again.content.decode()


def test_subscriber_subscribes_on_demand_sees_diff_and_syncs(login, member, pair):
    pair["inst_b"].owners.add(member)
    item = make_set(pair["publisher"], policy=SharedItem.Policy.SUBSCRIBER_CHOOSES)
    client = login(member)
    index = client.get(reverse("sharing:index")).content.decode()
    assert "DC Common" in index  # shared with a space the member manages
    page = client.post(
        reverse("sharing:subscribe", args=[item.pk]),
        {"space": pair["subscriber"].pk, "mode": "on_demand"},
        follow=True,
    )
    text = page.content.decode()
    assert "Update available: nothing delivered yet → r1" in text
    assert "Api.Url" in text and SECRET not in text
    assert "rNone" not in text and "r–" not in text  # the walkthrough saw "rNone r– → r1"
    assert "nothing delivered → r1" in text
    sub = Subscription.objects.get(item=item)
    client.post(reverse("sharing:sync", args=[sub.pk]))
    assert delivery.run(str(sub.pk), 1) == "written"
    text = client.get(reverse("sharing:subscription", args=[sub.pk])).content.decode()
    assert "In sync" in text and "Update available" not in text


def test_drift_is_shown_to_publisher_and_subscriber(login, space_owner, member, pair):
    pair["inst_b"].owners.add(member)
    item = make_set(pair["publisher"], policy=SharedItem.Policy.SUBSCRIBER_CHOOSES)
    sub = subscribe(item, pair["subscriber"], mode=Subscription.Mode.ON_DEMAND)
    queueing.queue([sub.pk], 1, "sync_now", force=True)
    delivery.run(str(sub.pk), 1)
    sub.refresh_from_db()
    pair["sim_b"].edit_variable_set(sub.octopus_child_id, set={"Region": "apac"})
    assert drift.check(str(sub.pk)) == "drifted"
    for user, url in (
        (space_owner, reverse("sharing:item", args=[item.pk])),
        (member, reverse("sharing:subscription", args=[sub.pk])),
    ):
        text = login(user).get(url).content.decode()
        assert "Drifted" in text and "Region" in text and "value changed" in text


def test_outsider_gets_404_for_items_and_subscriptions(login, outsider, pair):
    item = make_set(pair["publisher"])
    sub = subscribe(item, pair["subscriber"])
    client = login(outsider)
    assert "DC Common" not in client.get(reverse("sharing:index")).content.decode()
    for url in (
        reverse("sharing:item", args=[item.pk]),
        reverse("sharing:edit", args=[item.pk]),
        reverse("sharing:subscription", args=[sub.pk]),
        reverse("sharing:diff", args=[item.pk]),
    ):
        assert client.get(url).status_code == 404
    assert client.post(reverse("sharing:sync", args=[sub.pk])).status_code == 404


def test_subscriber_managers_cannot_edit_the_set(login, member, pair):
    pair["inst_b"].owners.add(member)
    item = make_set(pair["publisher"])
    client = login(member)
    assert client.get(reverse("sharing:item", args=[item.pk])).status_code == 200
    assert client.get(reverse("sharing:edit", args=[item.pk])).status_code == 403
    assert client.post(reverse("sharing:push", args=[item.pk])).status_code == 403


def test_badge_counts_failed_and_drifted(login, space_owner, pair):
    from django.template import Context, Template
    from django.test import RequestFactory

    item = make_set(pair["publisher"])
    sub = subscribe(item, pair["subscriber"])
    Subscription.objects.filter(pk=sub.pk).update(status=Subscription.Status.FAILED)
    request = RequestFactory().get("/")
    request.user = space_owner
    html = Template("{% load sharing %}{% sharing_badge %}").render(Context({"request": request}))
    assert "1 failed" in html and " drifted<" not in html


def test_index_uses_a_constant_number_of_queries(login, space_owner, pair):
    client = login(space_owner)

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(reverse("sharing:index")).status_code == 200
        return len(ctx.captured_queries)

    item = make_set(pair["publisher"])
    subscribe(item, pair["subscriber"])
    few = count()
    for n in range(5):
        subscribe(make_set(pair["publisher"], name=f"Set {n}"), pair["subscriber"])
    assert count() == few


def test_item_page_uses_a_constant_number_of_queries(login, space_owner, pair, make_sim_instance):
    from .conftest import enlist_sim, trust

    item = make_set(pair["publisher"])
    subscribe(item, pair["subscriber"])
    client = login(space_owner)

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(reverse("sharing:item", args=[item.pk])).status_code == 200
        return len(ctx.captured_queries)

    few = count()
    for space in enlist_sim(make_sim_instance(spaces=4)).spaces.all():
        trust(pair["publisher"], space)
        subscribe(item, space)
    assert count() == few


def test_step_template_pages_show_and_edit_the_template(login, space_owner, pair):
    import json

    from sharing.services import items

    from .test_broker import TEMPLATE

    item = items.import_step_template(pair["publisher"], TEMPLATE)
    client = login(space_owner)
    page = client.get(reverse("sharing:item", args=[item.pk])).content.decode()
    assert "Notify Slack" in page and "Octopus.Action.Script.ScriptBody" in page
    changed = json.loads(json.dumps(TEMPLATE))
    changed["Description"] = "Posts a message, politely"
    saved = client.post(
        reverse("sharing:edit", args=[item.pk]),
        {"template": json.dumps(changed), "comment": "polite"},
        follow=True,
    )
    assert "Revision 2." in saved.content.decode()
    diff = client.get(reverse("sharing:diff", args=[item.pk]) + "?from=1&to=2").content.decode()
    assert "politely" in diff
    broken = client.post(reverse("sharing:edit", args=[item.pk]), {"template": "{nope"})
    assert broken.status_code == 200 and item.revisions.count() == 2


def test_import_page_imports_a_step_template_file(login, space_owner, pair):
    import json

    from django.core.files.uploadedfile import SimpleUploadedFile

    from .test_broker import TEMPLATE

    client = login(space_owner)
    assert client.get(reverse("sharing:import")).status_code == 200
    upload = SimpleUploadedFile("t.json", json.dumps(TEMPLATE).encode(), "application/json")
    done = client.post(
        reverse("sharing:import"),
        {"which": "st", "publisher": pair["publisher"].pk, "policy": "push", "file": upload},
    )
    item = SharedItem.objects.get(kind=SharedItem.Kind.STEP_TEMPLATE)
    assert done.status_code == 302 and done["Location"] == reverse("sharing:item", args=[item.pk])


def test_push_now_says_one_space_not_1_spaces(login, space_owner, pair):
    item = make_set(pair["publisher"])
    subscribe(item, pair["subscriber"])
    page = login(space_owner).post(reverse("sharing:push", args=[item.pk]), follow=True)
    assert "for 1 space." in page.content.decode()


def test_the_admin_says_deliveries():
    from sharing.models import Delivery

    assert str(Delivery._meta.verbose_name_plural) == "deliveries"
