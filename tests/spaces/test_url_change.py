"""An instance's URL changes only after the key is verified at the new URL: the stored key
is never sent to a host it was not checked against."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from audit.models import AuditEntry
from identity.models import User
from octosim.testing import SimInstance
from odcm.crypto import unseal
from spaces import services
from spaces.models import Instance, UnverifiedURLChange

pytestmark = pytest.mark.django_db


def test_saving_a_new_url_without_verifying_the_key_is_refused(enlisted: Instance) -> None:
    enlisted.base_url = "http://127.0.0.1:9/elsewhere"
    with pytest.raises(UnverifiedURLChange):
        enlisted.save()
    assert Instance.objects.get(pk=enlisted.pk).base_url != "http://127.0.0.1:9/elsewhere"


def test_other_saves_of_an_instance_still_work(enlisted: Instance) -> None:
    enlisted.region = "emea"
    enlisted.save()
    assert Instance.objects.get(pk=enlisted.pk).region == "emea"


def test_moving_to_another_installation_is_refused(
    enlisted: Instance, make_sim_instance: Callable[..., SimInstance], admin_user: User
) -> None:
    other = make_sim_instance("other")
    with pytest.raises(services.RegistryError) as caught:
        services.change_url(enlisted, other.url, other.api_key, actor=admin_user)
    assert caught.value.code == "installation_changed"
    assert Instance.objects.get(pk=enlisted.pk).base_url != other.url


def test_a_key_the_new_host_refuses_changes_nothing(
    enlisted: Instance, make_sim_instance: Callable[..., SimInstance], admin_user: User
) -> None:
    other = make_sim_instance("other")
    with pytest.raises(services.RegistryError) as caught:
        services.change_url(enlisted, other.url, "API-NOTTHERIGHTKEYATALL0000", actor=admin_user)
    assert caught.value.code == "wrong_api_key"
    assert Instance.objects.get(pk=enlisted.pk).base_url != other.url


def test_a_verified_move_saves_url_and_key_together_and_is_audited(
    enlisted: Instance, make_sim_instance: Callable[..., SimInstance], admin_user: User
) -> None:
    other = make_sim_instance("moved")
    # A row enlisted before installation ids were recorded: only the key check applies.
    Instance.objects.filter(pk=enlisted.pk).update(installation_id="")
    row = Instance.objects.get(pk=enlisted.pk)
    services.change_url(row, other.url, other.api_key, actor=admin_user)
    row = Instance.objects.get(pk=enlisted.pk)
    assert row.base_url == other.url.rstrip("/")
    assert unseal(row, "api_key") == other.api_key
    assert AuditEntry.objects.filter(action="instance.change_url", actor=admin_user).exists()


def test_a_copy_refreshed_after_a_verified_move_saves_normally(
    enlisted: Instance, make_sim_instance: Callable[..., SimInstance], admin_user: User
) -> None:
    stale = Instance.objects.get(pk=enlisted.pk)
    other = make_sim_instance("moved")
    Instance.objects.filter(pk=enlisted.pk).update(installation_id="")
    services.change_url(Instance.objects.get(pk=enlisted.pk), other.url, other.api_key)
    stale.refresh_from_db()
    stale.region = "apac"
    stale.save()
    assert Instance.objects.get(pk=enlisted.pk).region == "apac"


def test_the_api_and_the_edit_page_cannot_change_the_url(
    enlisted: Instance, admin_user: User, login, api_client, token_for
) -> None:
    elsewhere = "http://127.0.0.1:9/elsewhere"
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(admin_user)}")
    api_client.patch(
        f"/api/v1/instances/{enlisted.pk}/", {"url": elsewhere, "base_url": elsewhere},
        format="json",
    )  # fmt: skip
    login(admin_user).post(
        f"/spaces/instances/{enlisted.pk}/edit/",
        {"name": enlisted.name, "base_url": elsewhere, "region": "x"},
    )
    assert Instance.objects.get(pk=enlisted.pk).base_url == enlisted.base_url
