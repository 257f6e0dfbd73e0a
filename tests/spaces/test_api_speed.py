"""The spaces API's hand-written row body equals DRF's generic one, field for field."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.utils import timezone

from spaces.api.serializers import SpaceSerializer
from spaces.models import Instance, Space

pytestmark = pytest.mark.django_db


def test_the_fast_space_body_is_exactly_what_drf_would_render() -> None:
    instance = Instance.objects.create(
        name="Fast <one>", slug="fast", base_url="https://octo.example.com/sub/"
    )
    full = Space.objects.create(
        instance=instance, octopus_id="Spaces-1", name="Ünïcode & co", slug="fast-1",
        description="line\nbreak", is_default=True, project_count=3, target_count=0,
        unhealthy_target_count=1, environment_count=4, tenant_count=5,
        counts_updated_at=datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
        state=Space.State.NOT_ENLISTED,
    )  # fmt: skip
    empty = Space.objects.create(instance=instance, octopus_id="Spaces-2", name="E", slug="e")
    for space in Space.objects.select_related("instance").filter(pk__in=[full.pk, empty.pk]):
        serializer = SpaceSerializer()
        fast = serializer.to_representation(space)
        generic = serializer.generic_representation(space)
        assert list(fast) == list(generic)
        assert fast == generic
        values = Space.objects.values(*SpaceSerializer.VALUES).get(pk=space.pk)
        from_values = SpaceSerializer.row(values, timezone.get_current_timezone())
        assert list(from_values) == list(generic)
        assert from_values == generic
    assert SpaceSerializer(empty).data["counts_updated_at"] is None


def test_the_spaces_list_renders_each_space_as_the_serializer_does(client) -> None:
    from identity.models import User

    admin = User.objects.create_superuser(username="speed-admin", password="x")
    instance = Instance.objects.create(name="L", slug="l", base_url="https://o.example/")
    for n in range(3):
        Space.objects.create(
            instance=instance, octopus_id=f"Spaces-{n}", name=f"S{n}", slug=f"s{n}"
        )
    client.force_login(admin)
    body = client.get("/api/v1/spaces/?page_size=2").json()
    assert body["count"] == 3 and len(body["results"]) == 2
    spaces = Space.objects.select_related("instance").order_by("name")[:2]
    assert body["results"] == [SpaceSerializer(sp).data for sp in spaces]
