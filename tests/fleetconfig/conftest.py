"""Fixtures for configuration as code: a small fleet built through ODCM's own services."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from identity import services as identity
from identity.models import Group, Role, RoleMapping
from identity.services import grant_rules
from monitoring.models import AlertSettings, MaintenanceWindow
from monitoring.services import configuration as monitoring
from octosim.testing import SimInstance
from sharing.models import SharedItem
from sharing.services import items, subscriptions, trusts
from spaces.models import Instance, StandardEnvironment
from spaces.services import instances as registry
from spaces.services.octopus_spaces import set_enlisted, set_standard_environments

SECRET = "fleet-s3cr3t-Do-Not-Leak-5521"


@pytest.fixture
def fleet(
    db: None,
    make_sim_instance: Callable[..., SimInstance],
    admin_user: Any,
    member: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, Any]:
    """Two enlisted octosim instances with groups, grants (a person's, a rule's), a trust, a
    shared set, a subscriber, a pin, a window and alert settings; the keys and the secret are
    in the environment."""
    a, b = make_sim_instance("cfg-a"), make_sim_instance("cfg-b")
    monkeypatch.setenv("OCTOPUS_API_KEY_CFG_A", a.api_key)
    monkeypatch.setenv("OCTOPUS_API_KEY_CFG_B", b.api_key)
    monkeypatch.setenv("SECRET_COMMON_DB_PASSWORD", SECRET)
    ia = registry.enlist_instance(
        name="cfg-a", base_url=a.url, api_key=a.api_key, region="emea", tags=["prod", "eu"]
    )
    ib = registry.enlist_instance(name="cfg-b", base_url=b.url, api_key=b.api_key)
    registry.update_instance(ia, owners=[admin_user], description="First")
    set_standard_environments(["Development", "Test", "Production"])
    identity.set_role_mapping(Role.VIEWER, ["Project viewer"])
    pa = ia.spaces.order_by("octopus_id")[0]
    sb = ib.spaces.order_by("octopus_id")[0]
    set_enlisted(ib.spaces.order_by("octopus_id")[2], False)
    group = identity.create_group(
        name="Platform", members=[member], external_groups=["cn=platform,dc=example"]
    )
    identity.grant(group, Role.DEPLOYER, space=pa)
    identity.grant(group, Role.VIEWER, instance=ib)
    # A person's own grant narrowed by a scope, and a grant rule (its grants are its own).
    identity.grant(member, Role.DEPLOYER, space=pa, scope={"environments": ["Production"]})
    grant_rules.create_rule(group, Role.VIEWER, "region", "emea")
    trusts.accept(trusts.propose(pa, sb))
    item = items.create_item(pa, SharedItem.Kind.VARIABLE_SET, "Common")
    items.save_revision(
        item,
        {
            "variables": [
                {
                    "name": "Api.Url",
                    "value": "https://prod.example",
                    "scope": {"environments": ["Production"]},
                },
                {"name": "Db.Password", "type": "Sensitive", "value": SECRET},
            ]
        },
    )
    subscriptions.subscribe(item, sb, mode="automatic")
    monitoring.pin_version(ia, "2024.1.1")
    start = timezone.now().replace(microsecond=0) + timedelta(days=3)
    monitoring.schedule_window(ib, start, start + timedelta(hours=2), "Upgrade")
    monitoring.save_alert_settings(member, flags={"all_instances": True}, instances=[ia])
    return {"a": a, "b": b, "instances": (ia, ib)}


def wipe() -> None:
    """Everything configuration declares (people stay: they sign in, they are not declared;
    service accounts and invitations are declared and go)."""
    from fleetconfig.models import ManagedObject
    from identity.models import Invitation, User

    SharedItem.objects.all().delete()
    # Service accounts are users owned by a group (which protects them): they go first.
    User.objects.filter(service_account__isnull=False).delete()
    Invitation.objects.all().delete()
    Group.objects.all().delete()
    Instance.objects.all().delete()
    StandardEnvironment.objects.all().delete()
    RoleMapping.objects.all().delete()
    MaintenanceWindow.objects.all().delete()
    AlertSettings.objects.all().delete()
    ManagedObject.objects.all().delete()
