"""Trusts by tag reach only spaces the proposer may manage, by the API, the page and the
periodic extension; nothing about other spaces comes back."""

from __future__ import annotations

import pytest

from sharing.models import Trust
from sharing.services import trusts
from spaces.models import Space, Tag

pytestmark = pytest.mark.django_db

API = "/api/v1/sharing"


def test_by_tag_api_proposes_nothing_to_spaces_the_caller_cannot_manage(
    pair, space_owner, api_client, token_for
):
    pair["inst_b"].tags.add(Tag.objects.create(name="emea"))
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(space_owner)}")
    before = Trust.objects.count()
    response = api_client.post(
        f"{API}/trusts/by-tag/", {"publisher": str(pair["publisher"].pk), "tag": "emea"}
    )
    assert response.status_code == 201
    assert response.json() == []
    assert Trust.objects.count() == before
    for space in pair["inst_b"].spaces.all():
        assert space.name not in response.content.decode()


def test_by_tag_page_proposes_nothing_to_spaces_the_caller_cannot_manage(pair, space_owner, login):
    pair["inst_b"].tags.add(Tag.objects.create(name="emea"))
    before = Trust.objects.count()
    login(space_owner).post(
        "/sharing/trusts/", {"publisher": str(pair["publisher"].pk), "tag": "emea"}
    )
    assert Trust.objects.count() == before


def test_by_tag_reaches_spaces_the_caller_manages(pair, space_owner):
    pair["inst_b"].tags.add(Tag.objects.create(name="emea"))
    pair["inst_b"].owners.add(space_owner)
    made = trusts.propose_by_tag(pair["publisher"], "emea", actor=space_owner)
    assert [t.subscriber.octopus_id for t in made] == ["Spaces-2"]


def test_the_periodic_extension_only_proposes_where_the_proposer_may_manage(pair, space_owner):
    tag = Tag.objects.create(name="emea")
    pair["inst_a"].tags.add(tag)
    pair["inst_b"].tags.add(tag)
    made = trusts.propose_by_tag(pair["publisher"], "emea", actor=space_owner)
    assert made and {t.subscriber.instance_id for t in made} == {pair["inst_a"].pk}
    Space.objects.create(instance=pair["inst_b"], octopus_id="Spaces-9", name="Late", slug="late")
    assert trusts.extend_tag_trusts() == 0
    mine = Space.objects.create(
        instance=pair["inst_a"], octopus_id="Spaces-8", name="Mine", slug="mine"
    )
    assert trusts.extend_tag_trusts() == 1
    assert Trust.objects.get(subscriber=mine).proposed_by == space_owner
