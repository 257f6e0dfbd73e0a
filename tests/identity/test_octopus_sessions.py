"""Ending a person's Octopus sessions when they lose access: octosim's RevokeSessions (2022.1+)
over real HTTP, the octopus client following the user's link, and ODCM's service."""

from __future__ import annotations

import pytest

from audit.models import AuditEntry
from identity.services import octopus_sessions
from odcm.clients import client_for
from tests.conftest import make_user
from tests.identity.conftest import enlist_sim

pytestmark = pytest.mark.django_db


def test_a_2022_or_later_instance_offers_revoke_sessions_and_older_ones_do_not(
    make_sim_instance,
):
    new, old = make_sim_instance(), make_sim_instance(version="2021.3.12345")
    new_inst, old_inst = enlist_sim(new), enlist_sim(old)
    with client_for(new_inst) as client:
        alice = client.get("/api/users/Users-3")
        assert alice["Links"]["RevokeSessions"].endswith("/api/users/Users-3/revoke-sessions")
        assert client.revoke_user_sessions(alice) is True
    with client_for(old_inst) as client:
        alice = client.get("/api/users/Users-3")
        assert "RevokeSessions" not in alice["Links"]
        assert client.revoke_user_sessions(alice) is False
        raw = client.request_raw(
            "PUT", "/api/users/Users-3/revoke-sessions", accept=frozenset({404})
        )
        assert raw.status_code == 404


def test_revoke_sessions_needs_user_edit(sim_instance):
    import httpx

    reply = httpx.put(
        f"{sim_instance.url}/api/users/Users-3/revoke-sessions",
        headers={"X-Octopus-ApiKey": sim_instance.read_only_api_key},
    )
    assert reply.status_code == 403


def test_the_service_ends_sessions_where_it_can_and_audits_each_instance(make_sim_instance):
    new, old = make_sim_instance(), make_sim_instance(version="2021.3.12345")
    enlist_sim(new), enlist_sim(old)
    alice = make_user("alice")  # Users-3 on both, by username
    nobody = make_user("zed")  # in neither
    outcomes = {o.instance: o for o in octopus_sessions.end_sessions(alice.pk)}
    assert outcomes[new.slug].ended == 1 and not outcomes[new.slug].unsupported
    assert outcomes[old.slug].ended == 0 and outcomes[old.slug].unsupported
    messages = sorted(AuditEntry.objects.filter(action="user.octopus_sessions").values_list(
        "message", flat=True
    ))  # fmt: skip
    assert any("sessions of 1 Octopus user(s) ended" in m for m in messages)
    assert any("cannot end alice's sessions" in m for m in messages)
    assert [o.ended for o in octopus_sessions.end_sessions(nobody.pk)] == [0, 0]


def test_leaving_a_group_or_its_deletion_ends_the_members_octopus_sessions(
    enlisted, make_group, eager_celery, django_capture_on_commit_callbacks
):
    import identity.tasks  # noqa: F401 - registers the tasks in this process
    from identity import services
    from identity.models import Role

    def ended() -> int:
        return AuditEntry.objects.filter(
            action="user.octopus_sessions", message__startswith="alice: sessions of 1"
        ).count()

    alice = make_user("alice")
    group = make_group("Ops", [alice])
    services.grant(group, Role.VIEWER, instance=enlisted)
    with django_capture_on_commit_callbacks(execute=True):
        services.update_group(group, description="no change of members")
    assert ended() == 0  # nobody lost anything
    with django_capture_on_commit_callbacks(execute=True):
        services.update_group(group, members=[])
    assert ended() == 1
    again = make_group("Again", [alice])
    services.grant(again, Role.VIEWER, instance=enlisted)
    with django_capture_on_commit_callbacks(execute=True):
        services.delete_group(again)
    assert ended() == 2


def test_losing_a_group_through_the_directory_at_sign_in_ends_octopus_sessions_there(
    make_sim_instance, make_group, eager_celery, django_capture_on_commit_callbacks
):
    """OIDC and LDAP sign-in store the person's external groups (``store_external_groups``):
    a group lost that way is like leaving it, on the instances its grants cover only."""
    import identity.tasks  # noqa: F401 - registers the tasks in this process
    from identity import services
    from identity.models import Role

    one, two = make_sim_instance(), make_sim_instance()
    first, second = enlist_sim(one), enlist_sim(two)

    def ended(instance: str) -> int:
        return AuditEntry.objects.filter(
            action="user.octopus_sessions",
            message__startswith="alice: sessions of 1",
            message__contains=instance,
        ).count()

    alice = make_user("alice")
    ops = make_group("Ops", external=["cn=ops"])
    devs = make_group("Devs", external=["cn=devs"])
    services.grant(ops, Role.VIEWER, instance=first)
    services.grant(devs, Role.VIEWER, instance=second)
    with django_capture_on_commit_callbacks(execute=True):
        services.store_external_groups(alice, "ldap", ["cn=ops", "cn=devs"])
    assert (ended(one.slug), ended(two.slug)) == (0, 0)  # gaining groups ends nothing
    with django_capture_on_commit_callbacks(execute=True):
        services.store_external_groups(alice, "ldap", ["cn=devs", "cn=other"])
    assert (ended(one.slug), ended(two.slug)) == (1, 0)  # Ops lost: its instance only
    # Still in Devs directly: losing its external group loses nothing, so nothing ends.
    services.update_group(devs, members=[alice])
    with django_capture_on_commit_callbacks(execute=True):
        services.store_external_groups(alice, "ldap", [])
    assert (ended(one.slug), ended(two.slug)) == (1, 0)
