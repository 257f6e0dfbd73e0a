"""Bugs a newcomer's walkthrough found in the registry pages: gone spaces offered everywhere
and kept for ever, one-click un-enlisting, "1 spaces"."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client
from django.urls import reverse

from audit.models import AuditEntry
from identity.admin_views import GrantForm
from identity.models import User
from octosim.testing import SimInstance
from sharing import access as sharing_access
from sharing.forms import TrustForm
from spaces import services
from spaces.models import Instance, Space
from tests.spaces.octo import remove_space

pytestmark = pytest.mark.django_db


def _gone(sim: SimInstance, enlisted: Instance, admin: User) -> Space:
    remove_space(sim, "Spaces-3")
    services.refresh_instance(enlisted, actor=admin)
    space = enlisted.spaces.get(octopus_id="Spaces-3")
    assert space.state == Space.State.GONE
    return space


def test_a_space_gone_from_octopus_is_not_offered_for_grants_trusts_publishing_or_import(
    sim_instance: SimInstance, enlisted: Instance, admin_user: User
) -> None:
    gone = _gone(sim_instance, enlisted, admin_user)
    grant_targets = dict(GrantForm().fields["target"].choices)  # type: ignore[attr-defined]
    assert f"s:{gone.pk}" not in grant_targets
    assert gone not in sharing_access.managed_spaces(admin_user)  # publisher, subscribe, import
    trust = TrustForm(managed=[], visible=Space.objects.all())
    assert gone not in trust.fields["subscriber"].queryset  # type: ignore[attr-defined]


def test_a_gone_space_can_be_forgotten_after_a_confirmation(
    sim_instance: SimInstance,
    enlisted: Instance,
    admin_user: User,
    login: Callable[[User], Client],
) -> None:
    gone = _gone(sim_instance, enlisted, admin_user)
    web = login(admin_user)
    page = web.get(reverse("spaces:instance", args=[enlisted.pk])).content.decode()
    assert reverse("spaces:space-state", args=[gone.pk, "forget"]) in page
    url = reverse("spaces:space-state", args=[gone.pk, "forget"])
    asked = web.post(url, {"next": "instance"})
    assert asked.status_code == 200 and b'data-testid="confirm-form"' in asked.content
    assert Space.objects.filter(pk=gone.pk).exists()  # nothing happened yet
    done = web.post(url, {"next": "instance", "confirm": "yes"})
    assert done.status_code == 302
    assert not Space.objects.filter(pk=gone.pk).exists()
    assert AuditEntry.objects.filter(action="space.forget", object_id=str(gone.pk)).exists()
    live = enlisted.spaces.get(octopus_id="Spaces-2")
    refused = web.post(reverse("spaces:space-state", args=[live.pk, "forget"]), {"confirm": "yes"})
    assert refused.status_code == 302
    assert Space.objects.filter(pk=live.pk, state=Space.State.ENLISTED).exists()


def test_un_enlisting_a_space_asks_for_confirmation_first(
    enlisted: Instance, admin_user: User, login: Callable[[User], Client]
) -> None:
    space = enlisted.spaces.get(octopus_id="Spaces-2")
    web = login(admin_user)
    url = reverse("spaces:space-state", args=[space.pk, "unenlist"])
    asked = web.post(url, {"next": "instance"})  # the button on the instance page
    assert asked.status_code == 200
    assert "Nothing changes in Octopus" in asked.content.decode()
    space.refresh_from_db()
    assert space.state == Space.State.ENLISTED
    web.post(url, {"next": "instance", "confirm": "yes"})
    space.refresh_from_db()
    assert space.state == Space.State.NOT_ENLISTED


def test_one_space_is_one_space_not_1_spaces(
    sim_instance: SimInstance, admin_user: User, login: Callable[[User], Client]
) -> None:
    for octopus_id in ("Spaces-2", "Spaces-3"):
        remove_space(sim_instance, octopus_id)
    web = login(admin_user)
    form = {
        "name": "Solo",
        "base_url": sim_instance.url,
        "api_key": sim_instance.api_key,
        "enlist_all": "on",
    }
    page = web.post(reverse("spaces:enlist"), form, follow=True).content.decode()
    assert "Enlisted Solo with 1 space." in page
    assert "1 space<" in web.get(reverse("spaces:list")).content.decode()


def test_recent_changes_of_a_space_do_not_show_other_peoples_favourites(
    enlisted: Instance, admin_user: User, login: Callable[[User], Client]
) -> None:
    space = enlisted.spaces.get(octopus_id="Spaces-2")
    services.set_favourite(admin_user, space, True)
    services.set_enlisted(space, False, actor=admin_user)
    owner = User.objects.create_user("other-admin", "oa@example.com", "x", is_superuser=True)
    page = login(owner).get(reverse("spaces:space", args=[space.pk])).content.decode()
    assert "space.unenlist" in page  # a real change is listed
    assert "space.favourite" not in page
    instance_page = login(owner).get(reverse("spaces:instance", args=[enlisted.pk]))
    assert "space.favourite" not in instance_page.content.decode()
    assert AuditEntry.objects.filter(action="space.favourite").exists()  # still audited
