"""Facade spaces per customer, with a real worker: the space from a blueprint, the group's
grant, the tenant in the management space, one facade project per management project, a
rename and a new project followed, and the deployment the facade step starts."""

from __future__ import annotations

from typing import Any

import pytest

from identity.models import Grant
from identity.services.groups import create_group
from managed.models import BlueprintTarget, Customer
from managed.services import blueprints, facades
from managed.services import projects as P
from octosim.testing import SimInstance
from odcm.clients import client_for
from spaces.models import Instance

from .conftest import by_name, document, enlist_sim, space_of, wait_for, writes
from .test_workers import FAST

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
API_KEY = "API-FACADEKEYNEVERSHOWN0001"


def mgmt_projects(inst: Instance) -> dict[str, dict[str, Any]]:
    return by_name(inst, "Spaces-1", "projects")


def facade_projects(inst: Instance, customer: Customer) -> dict[str, dict[str, Any]]:
    assert customer.facade_space is not None
    return by_name(inst, customer.facade_space.octopus_id, "projects")


def in_step(customer: Customer, since: Any = None) -> bool:
    customer.refresh_from_db()
    return customer.status == "in_step" and (since is None or customer.synced_at > since)


def run_the_facade_step(sim: SimInstance, inst: Instance, customer: Customer, name: str) -> Any:
    """What the facade step's script does on an Octopus worker (octosim runs no scripts):
    read its parameters from the facade space and call the executions API with them."""
    fid = customer.facade_space.octopus_id  # type: ignore[union-attr]
    with client_for(inst) as c:
        project = next(p for p in c.get_all(f"/api/{fid}/projects") if p["Name"] == name)
        doc = P.serialize(c, fid, project, P.lookups(c, fid))
        lvs = next(
            s
            for s in c.get_all(f"/api/{fid}/libraryvariablesets")
            if s["Name"] == facades.library_set_name(customer)
        )
        shared = c.get(f"/api/{fid}/variables/{lvs['VariableSetId']}")["Variables"]
    values = {v["Name"]: v["Value"] for v in [*doc["Variables"], *shared]}
    [step] = doc["Steps"]
    script = step["Actions"][0]["Properties"]["Octopus.Action.Script.ScriptBody"]
    for name_used in ("Facade.ServerUrl", "Facade.SpaceId", "Facade.ApiKey", "Facade.Project"):
        assert f"#{{{name_used}}}" in script
    assert "deployments/create/tenanted/v1" in script and "#{Facade.Tenant}" in script
    assert values["Facade.ApiKey"] is None  # sensitive: Octopus never returns it
    assert values["Facade.ServerUrl"] == sim.url
    space, project_id = values["Facade.SpaceId"], values["Facade.ProjectId"]
    with client_for(inst) as c:  # the customer's key would be used; ours reaches the same API
        release = c.get(f"/api/{space}/projects/{project_id}/releases", {"take": 1})["Items"][0]
        template = c.get(f"/api/{space}/releases/{release['Id']}/deployments/template")
        env = template["PromoteTo"][0]["Name"]
        return c.post(
            f"/api/{space}/deployments/create/tenanted/v1",
            {
                "SpaceIdOrName": space,
                "ProjectName": values["Facade.Project"],
                "ReleaseVersion": release["Version"],
                "EnvironmentName": env,
                "Tenants": [values["Facade.Tenant"]],
            },
        )


def test_a_customer_gets_a_facade_space_that_follows_the_management_space(
    make_sim_instance, start_celery_worker, admin_user
):
    sim = make_sim_instance(spaces=1, seed=81)
    inst = enlist_sim(sim)
    mgmt = space_of(inst)
    with client_for(inst) as c:  # the pattern: management projects deploy per tenant
        for project in c.get_all("/api/Spaces-1/projects"):
            c.put(
                f"/api/Spaces-1/projects/{project['Id']}",
                {**project, "TenantedDeploymentMode": "TenantedOrUntenanted"},
            )
    bp = blueprints.create_blueprint("Customer space", document(), management_space=mgmt)
    group = create_group(name="Acme engineers")
    start_celery_worker(concurrency=2, **FAST)
    customer = facades.create_customer(
        "Acme", mgmt, group=group, blueprint=bp, api_key=API_KEY, actor=admin_user
    )
    facade = customer.facade_space
    assert facade is not None and facade.instance == inst and facade.created_by_odcm
    assert Grant.objects.filter(group=group, space=facade, role="deployer").exists()
    wait_for(lambda: in_step(customer), timeout=240, every=0.5)
    # The blueprint was applied to the new space by the broker, beside the facades.
    wait_for(
        lambda: BlueprintTarget.objects.filter(blueprint=bp, space=facade, status="applied"),
        timeout=240,
        every=0.5,
    )
    assert "Staging DC" in by_name(inst, facade.octopus_id, "environments")

    managed = mgmt_projects(inst)
    made = facade_projects(inst, customer)
    assert set(made) == set(managed)
    assert set(customer.facades) == {p["Id"] for p in managed.values()}
    tenant = by_name(inst, "Spaces-1", "tenants")["Acme"]
    assert customer.tenant_id == tenant["Id"]
    assert set(tenant["ProjectEnvironments"]) == {p["Id"] for p in managed.values()}
    lvs = by_name(inst, facade.octopus_id, "libraryvariablesets")["Facade Acme"]
    with client_for(inst) as c:
        shared = {
            v["Name"]: v
            for v in c.get(f"/api/{facade.octopus_id}/variables/{lvs['VariableSetId']}")[
                "Variables"
            ]
        }
    assert shared["Facade.ApiKey"]["IsSensitive"] and shared["Facade.ApiKey"]["Value"] is None
    assert API_KEY not in str(shared)
    assert all(lvs["Id"] in p["IncludedLibraryVariableSetIds"] for p in made.values())

    # Starting the facade's deployment: the call its step makes creates the tenanted
    # deployment in the management space.
    # (octosim seeds about one project in twelve disabled, by the instance's random name:
    # Octopus refuses to deploy those, so the step is run for an enabled one.)
    name = sorted(n for n, p in managed.items() if not p["IsDisabled"])[0]
    started = run_the_facade_step(sim, inst, customer, name)
    [task] = started["DeploymentServerTasks"]
    with client_for(inst) as c:
        deployment = c.get(f"/api/Spaces-1/deployments/{task['DeploymentId']}")
    assert deployment["TenantId"] == tenant["Id"]
    assert deployment["ProjectId"] == managed[name]["Id"]

    # A management project renamed and one added: a resync follows both.
    renamed = managed[name]
    with client_for(inst) as c:
        c.put(f"/api/Spaces-1/projects/{renamed['Id']}", {**renamed, "Name": f"{name} v2"})
        group_id = renamed["ProjectGroupId"]
        added = c.post(
            "/api/Spaces-1/projects",
            {"Name": "Billing", "ProjectGroupId": group_id, "LifecycleId": renamed["LifecycleId"]},
        )
    facade_id = customer.facades[renamed["Id"]]
    before = customer.synced_at
    assert facades.queue_sync(customer, actor=admin_user)
    wait_for(lambda: in_step(customer, before), timeout=240, every=0.5)
    made = facade_projects(inst, customer)
    assert made[f"{name} v2"]["Id"] == facade_id and name not in made  # renamed, same project
    assert "Billing" in made and customer.facades[added["Id"]] == made["Billing"]["Id"]
    assert any("Billing is untenanted" in n for n in customer.notes)
    started = run_the_facade_step(sim, inst, customer, f"{name} v2")
    assert started["DeploymentServerTasks"]

    # In step: the periodic check reads and writes nothing.
    sim.reset_stats()
    before = customer.synced_at
    assert facades.due_customers() == [str(customer.pk)]
    assert facades.queue_sync(customer)
    wait_for(lambda: in_step(customer, before), timeout=240, every=0.5)
    assert writes(sim) == 0


@pytest.mark.django_db
def test_a_customer_with_a_bad_name_creates_nothing(make_sim_instance, admin_user):
    sim = make_sim_instance(spaces=1, seed=82)
    inst = enlist_sim(sim)
    mgmt = space_of(inst)
    with pytest.raises(facades.CustomerError, match="needs a name"):
        facades.create_customer("  ", mgmt, actor=admin_user)
    customer = facades.create_customer("Globex", mgmt, actor=admin_user)
    spaces = inst.spaces.count()
    with pytest.raises(facades.CustomerError, match="already a customer"):
        facades.create_customer("globex", mgmt, actor=admin_user)
    assert inst.spaces.count() == spaces and Customer.objects.count() == 1
    assert customer.api_key == "" or API_KEY not in str(customer.api_key)
