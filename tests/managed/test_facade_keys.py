"""The key of a customer's facade steps, made by ODCM with a real worker against octosim:
a service account in the management instance whose team may only create deployments for
the customer's tenant, rotated (new key delivered, old one deleted) and removed with the
customer; the key is never on a page, in the API or in the audit log."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest

from audit.models import AuditEntry
from managed.models import Customer
from managed.services import customers, facades
from octosim.testing import SimInstance
from odcm.clients import client_for
from odcm.crypto import unseal
from spaces.models import Instance

from .conftest import by_name, enlist_sim, space_of, wait_for, writes
from .test_workers import FAST

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def in_step(customer: Customer, since: Any = None) -> bool:
    customer.refresh_from_db()
    assert customer.status != "failed", customer.last_error
    return customer.status == "in_step" and (since is None or customer.synced_at > since)


def deploy_as(sim: SimInstance, key: str, inst: Instance, tenant: str) -> httpx.Response:
    """What a facade step does: the tenanted deployment of the latest release, with its key."""
    with client_for(inst) as c:
        for project in sorted(c.get_all("/api/Spaces-1/projects"), key=lambda p: p["Name"]):
            found = c.get(f"/api/Spaces-1/projects/{project['Id']}/releases", {"take": 1})
            if not project.get("IsDisabled") and found["Items"]:
                break
        release = found["Items"][0]
        template = c.get(f"/api/Spaces-1/releases/{release['Id']}/deployments/template")
    body = {
        "SpaceIdOrName": "Spaces-1",
        "ProjectName": project["Name"],
        "ReleaseVersion": release["Version"],
        "EnvironmentName": template["PromoteTo"][0]["Name"],
        "Tenants": [tenant],
    }
    return httpx.post(
        f"{sim.url}/api/Spaces-1/deployments/create/tenanted/v1",
        json=body,
        headers={"X-Octopus-ApiKey": key},
        trust_env=False,
    )


def me(sim: SimInstance, key: str) -> int:
    url = f"{sim.url}/api/users/me"
    return httpx.get(url, headers={"X-Octopus-ApiKey": key}, trust_env=False).status_code


def test_odcm_makes_rotates_and_removes_the_facade_key(
    make_sim_instance, start_celery_worker, admin_user, client, caplog
):
    caplog.set_level(logging.DEBUG)
    sim = make_sim_instance(spaces=1, seed=83)
    inst = enlist_sim(sim)
    mgmt = space_of(inst)
    with client_for(inst) as c:
        for project in c.get_all("/api/Spaces-1/projects"):
            c.put(
                f"/api/Spaces-1/projects/{project['Id']}",
                {**project, "TenantedDeploymentMode": "TenantedOrUntenanted"},
            )
        envs = [e["Id"] for e in c.get_all("/api/Spaces-1/environments")]
        every = {p["Id"]: envs for p in c.get_all("/api/Spaces-1/projects")}
        c.post("/api/Spaces-1/tenants", {"Name": "Other customer", "ProjectEnvironments": every})
    worker = start_celery_worker(concurrency=2, **FAST)
    customer = facades.create_customer("Acme", mgmt, actor=admin_user)
    assert customer.key_source == "odcm" and not customer.api_key
    wait_for(lambda: in_step(customer), timeout=240, every=0.5)

    # The service account: a service user, alone in a team whose only role is the
    # deployment creator scoped to Acme's tenant.
    tenant = by_name(inst, "Spaces-1", "tenants")["Acme"]
    with client_for(inst) as c:
        user = c.get(f"/api/users/{customer.service_user_id}")
        team = c.get(f"/api/Spaces-1/teams/{customer.service_team_id}")
        [scoped] = list(c.paginate(f"/api/teams/{team['Id']}/scopeduserroles"))
        keys = list(c.paginate(f"/api/users/{user['Id']}/apikeys"))
    assert user["IsService"] is True and team["MemberUserIds"] == [user["Id"]]
    assert scoped["UserRoleId"] == "userroles-deploymentcreator"
    assert scoped["TenantIds"] == [tenant["Id"]] and not scoped["ProjectIds"]
    assert [k["Id"] for k in keys] == [customer.api_key_id]
    key = unseal(customer, "api_key")
    assert customer.api_key_digest  # delivered to the facade space
    assert not any("Acme is untenanted" in n for n in customer.notes)
    assert not any("No API key" in n for n in customer.notes)

    # In step: the periodic check of the key, like the rest, costs reads only.
    sim.reset_stats()
    before = customer.synced_at
    assert facades.queue_sync(customer)
    wait_for(lambda: in_step(customer, before), timeout=240, every=0.5)
    assert writes(sim) == 0 and unseal(customer, "api_key") == key

    # The facade's key deploys for Acme and is refused for another tenant.
    ok = deploy_as(sim, key, inst, "Acme")
    assert ok.status_code == 200, ok.text
    assert deploy_as(sim, key, inst, "Other customer").status_code == 403

    # Rotation: a new key delivered, then the old one deleted in Octopus.
    before, old_id = customer.synced_at, customer.api_key_id
    client.force_login(admin_user)
    page = client.post(f"/managed/customers/{customer.pk}/rotate/", follow=True)
    assert page.status_code == 200
    wait_for(lambda: in_step(customer, before) and customer.api_key_id != old_id, timeout=240)
    assert customer.rotate_requested_at is None
    new = unseal(customer, "api_key")
    assert new != key and me(sim, key) == 401 and me(sim, new) == 200
    with client_for(inst) as c:
        assert [k["Id"] for k in list(c.paginate(f"/api/users/{user['Id']}/apikeys"))] == [
            customer.api_key_id
        ]
    assert deploy_as(sim, new, inst, "Acme").status_code == 200

    # The key is on no page, in no API answer, in no audit row and in no log line.
    shown = client.get(f"/managed/customers/{customer.pk}/").content.decode()
    assert "Rotate key" in shown and "Enter a key by hand" in shown
    api = client.get(f"/api/v1/managed/customers/{customer.pk}/").content.decode()
    assert json.loads(api)["service_user_id"] == user["Id"]
    audit = json.dumps(list(AuditEntry.objects.values("changes", "message")), default=str)
    for secret in (key, new):
        assert secret not in shown and secret not in api and secret not in audit
        assert secret not in worker.output() and secret not in caplog.text

    # Removing the customer removes its service user, key and team in Octopus.
    page = client.post(f"/managed/customers/{customer.pk}/remove/", follow=True)
    assert page.status_code == 200
    assert not Customer.objects.filter(pk=customer.pk).exists()
    assert me(sim, new) == 401
    with client_for(inst) as c:
        assert user["Id"] not in {u["Id"] for u in c.get_all("/api/users")}
        assert team["Id"] not in {t["Id"] for t in c.get_all("/api/Spaces-1/teams")}


def test_a_key_entered_by_a_person_replaces_the_service_accounts(
    make_sim_instance, start_celery_worker, admin_user
):
    sim = make_sim_instance(spaces=1, seed=84)
    inst = enlist_sim(sim)
    start_celery_worker(concurrency=1, **FAST)
    customer = facades.create_customer("Initech", space_of(inst), actor=admin_user)
    wait_for(lambda: in_step(customer), timeout=240, every=0.5)
    made = unseal(customer, "api_key")
    before = customer.synced_at
    facades.set_api_key(customer, "API-ENTEREDBYAPERSON0000000001", actor=admin_user)
    wait_for(lambda: in_step(customer, before), timeout=240, every=0.5)
    assert customer.key_source == "manual" and me(sim, made) == 401
    with client_for(inst) as c:
        assert list(c.paginate(f"/api/users/{customer.service_user_id}/apikeys")) == []
    # and back: a rotation takes ODCM's service account again
    before = customer.synced_at
    assert customers.rotate_key(customer, actor=admin_user)
    wait_for(lambda: in_step(customer, before) and customer.key_source == "odcm", timeout=240)
    assert me(sim, unseal(customer, "api_key")) == 200
