"""Subscribing many spaces at once by instance tag or region (through the one subscribe
service), and spaces named "Space (instance)" on the sharing pages where two share a name."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.urls import reverse

from sharing.models import SharedItem, Subscription
from spaces.models import Space, Tag

from .conftest import make_set, space_of, subscribe, trust

pytestmark = pytest.mark.django_db


def _options(html: str) -> dict[str, str]:
    form = html[html.index('data-testid="subscribe-form"') :]
    form = form[: form.index("</form>")]
    return dict(re.findall(r'<option value="([^"]+)"[^>]*>([^<]+)</option>', form))


def test_a_tag_subscribes_every_trusted_space_on_its_instances(
    login: Any, member: Any, pair: dict[str, Any]
) -> None:
    inst_b = pair["inst_b"]
    inst_b.owners.add(member)
    inst_b.tags.add(Tag.objects.create(name="dc-east"))
    inst_b.region = "emea"
    inst_b.save(update_fields=["region"])
    second = space_of(inst_b, "Spaces-2")
    trust(pair["publisher"], second)
    item = make_set(pair["publisher"], policy=SharedItem.Policy.SUBSCRIBER_CHOOSES)
    client = login(member)
    options = _options(client.get(reverse("sharing:item", args=[item.pk])).content.decode())
    assert options["t:dc-east"] == "Every space on instances tagged dc-east"
    assert options["r:emea"] == "Every space on instances in region emea"
    assert options[str(second.pk)] == f"{second.name} ({inst_b.name})"

    page = client.post(
        reverse("sharing:subscribe", args=[item.pk]),
        {"space": "t:dc-east", "mode": "on_demand"},
        follow=True,
    )
    assert "(2 spaces now); 2 subscribed" in page.content.decode()
    subs = Subscription.objects.filter(item=item)
    assert {s.space_id for s in subs} == {pair["subscriber"].pk, second.pk}
    assert {s.mode for s in subs} == {"on_demand"}
    # Both subscribed: nothing left to offer, and the tag reaches nobody new.
    again = client.post(
        reverse("sharing:subscribe", args=[item.pk]), {"space": "t:dc-east", "mode": "automatic"}
    )
    assert again.status_code == 403 and subs.count() == 2


def test_a_tag_leaves_out_spaces_without_trust_or_management(
    login: Any, member: Any, pair: dict[str, Any]
) -> None:
    inst_b = pair["inst_b"]
    inst_b.owners.add(member)
    inst_b.tags.add(Tag.objects.create(name="dc-east"))
    item = make_set(pair["publisher"], policy=SharedItem.Policy.SUBSCRIBER_CHOOSES)
    client = login(member)
    client.post(
        reverse("sharing:subscribe", args=[item.pk]), {"space": "t:dc-east", "mode": "automatic"}
    )
    # Spaces-2 of B is not trusted by the publisher: only the trusted one subscribed.
    assert [s.space_id for s in Subscription.objects.filter(item=item)] == [pair["subscriber"].pk]


def test_spaces_that_share_a_name_are_told_apart_by_their_instance(
    login: Any, space_owner: Any, member: Any, pair: dict[str, Any]
) -> None:
    Space.objects.filter(pk__in=[pair["publisher"].pk, pair["subscriber"].pk]).update(
        name="Default"
    )
    pair["inst_b"].owners.add(member)
    item = make_set(pair["publisher"], policy=SharedItem.Policy.SUBSCRIBER_CHOOSES)
    subscribe(item, Space.objects.get(pk=pair["subscriber"].pk), mode="on_demand")
    a, b = pair["inst_a"].name, pair["inst_b"].name
    index = login(member).get(reverse("sharing:index")).content.decode()
    assert f"<td>Default ({a})</td><td>Default ({b})</td>" in index  # publisher, subscriber
    trusts = login(space_owner).get(reverse("sharing:trusts")).content.decode()
    assert f"<td>Default ({a})</td><td>Default ({b})" in trusts
    item_page = login(space_owner).get(reverse("sharing:item", args=[item.pk])).content.decode()
    assert f"<strong>Default ({a})</strong>" in item_page
