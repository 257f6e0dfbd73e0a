"""A small world for the API and input-boundary tests: one instance whose Octopus address the
URL policy refuses (so any call to Octopus fails at once, with no network), two spaces, people
with each role, and one of every kind of object a route can address."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from audit.services import record
from fleetconfig.services import make_plan
from identity import services as identity
from identity.models import GrantRule, Role, User
from identity.services.tokens import create_token
from managed.models import Customer, Downstream, Split, TemplateProject, TemplateRevision
from managed.services.blueprints import assign as assign_blueprint
from managed.services.blueprints import create_blueprint
from monitoring.models import InstanceMonitor, MaintenanceWindow
from odcm.crypto import seal
from rollouts.models import DeploymentRun, RunDeployment, RunWave
from rollouts.services import actions as rollout_actions
from rollouts.services import pipelines as rollout_pipelines
from sharing.models import SharedItem, Subscription, SubscriptionRule, Trust
from sharing.services import items, trusts
from spaces.models import Favourite, Instance, Space, Tag
from tests.conftest import make_user

# 10.0.0.0/8 is outside the test settings' allowed private networks: the client refuses it
# before connecting, so an action that reaches Octopus fails fast and the same way each time.
REFUSED_URL = "http://10.255.255.1/octopus"

VARIABLES = {
    "variables": [
        {"key": "a", "name": "Api.Url", "value": "https://a.example", "scope": {}},
        {"key": "b", "name": "Region", "value": "emea", "scope": {"roles": ["web"]}},
    ]
}
TEMPLATE = {
    "Name": "Say hello",
    "ActionType": "Octopus.Script",
    "Packages": [],
    "Parameters": [{"Name": "Greeting", "Label": "Greeting", "DefaultValue": "hi"}],
    "Properties": {"Octopus.Action.Script.ScriptBody": "echo hi"},
}


@dataclass
class World:
    users: dict[str, User]
    instance: Instance
    space: Space
    other: Space
    item: SharedItem
    template: SharedItem
    subscription: Subscription
    trust: Trust
    window: MaintenanceWindow
    extra: dict[str, Any] = field(default_factory=dict)


def build_world() -> World:
    users = {
        "admin": make_user("ada", admin=True),
        "manager": make_user("owen"),
        "viewer": make_user("mia"),
        "outsider": make_user("oscar"),
    }
    instance = Instance(name="Edge", slug="edge", base_url=REFUSED_URL, region="emea")
    seal(instance, "api_key", "API-EDGEEDGEEDGEEDGEEDGEEDGE00")
    instance.save()
    instance.tags.add(Tag.objects.create(name="prod"))
    space = Space.objects.create(instance=instance, octopus_id="Spaces-1", name="Apps", slug="apps")
    other = Space.objects.create(instance=instance, octopus_id="Spaces-2", name="Ops", slug="ops")
    managers = identity.create_group(name="Managers", members=[users["manager"]])
    viewers = identity.create_group(name="Viewers", members=[users["viewer"]])
    identity.grant(managers, Role.MANAGER, space=space)
    identity.grant(managers, Role.MANAGER, space=other)
    identity.grant(viewers, Role.VIEWER, space=space)
    item = items.create_item(
        space, SharedItem.Kind.VARIABLE_SET, "Shared", policy="subscriber_chooses"
    )
    items.save_revision(item, VARIABLES)
    changed = {"variables": [*VARIABLES["variables"][:1], {"key": "c", "name": "New"}]}
    items.save_revision(item, changed)
    template = items.create_item(space, SharedItem.Kind.STEP_TEMPLATE, "Hello")
    items.save_revision(template, TEMPLATE)
    trust = trusts.propose(space, other)
    trusts.accept(trust)
    subscription = Subscription.objects.create(item=item, space=other, mode="on_demand")
    # Rules that follow a tag or region: one of each, the subscription rule the manager's own.
    GrantRule.objects.create(group=viewers, role=Role.DEPLOYER, selector="tag", value="prod")
    SubscriptionRule.objects.create(
        item=item, selector="region", value="emea", created_by=users["manager"]
    )
    now = timezone.now()
    InstanceMonitor.objects.get_or_create(instance=instance)
    window = MaintenanceWindow.objects.create(
        instance=instance, starts_at=now + timedelta(days=1), ends_at=now + timedelta(days=2)
    )
    for persona in ("admin", "manager"):
        Favourite.objects.create(user=users[persona], space=space)
        create_token(users[persona], name="edge")
    # a service account both personas manage (the managers' group owns it), so its detail,
    # tokens and revoke-token routes are swept on a real object as either
    from identity.services.service_accounts import create_service_account

    create_service_account(name="edge bot", owner=managers, actor=users["admin"])
    # an invitation (administrators'), through a registered external provider
    from allauth.socialaccount.models import SocialApp

    from identity.services import invitations

    SocialApp.objects.create(
        provider="openid_connect",
        provider_id="partnerco",
        name="PartnerCo",
        client_id="odcm",
        secret="sweep-test-app",
        settings={"server_url": "https://login.partner.example"},
    )
    invitations.create(email="pat@partner.example", provider="partnerco", actor=users["admin"])
    record("edge.test", message="a row for the audit routes")
    make_plan("version: 1\n", actor=users["admin"])  # a plan, valid or not, to address
    _promotions(space)
    # Rollouts: a policy, a rollout of the item's latest revision and a deployment run.
    rollout_actions.save_policy("shared_item", item.pk, [{"selector": "percent", "percent": 50}])
    rollout_actions.start("shared_item", item.pk, item.latest_revision)
    run = DeploymentRun.objects.create(project="Web", environment="Test", created_by=users["admin"])
    RunDeployment.objects.create(
        run=run, wave=RunWave.objects.create(run=run, position=1), space=space
    )
    # managed from the space the manager persona manages, so both personas sweep its routes
    blueprint = create_blueprint(
        "Edge blueprint", {"environments": [{"name": "Dev"}]}, management_space=space
    )
    assign_blueprint(blueprint, [other])  # a blueprint and a target for the managed routes
    edge = TemplateProject.objects.create(
        space=space, name="Edge", octopus_project_id="Projects-1", latest_revision=1
    )
    TemplateRevision.objects.create(template=edge, number=1, document={})
    Downstream.objects.create(template=edge, space=other)
    Split.objects.create(source=space, target=other, projects=["Web"])  # for the split routes
    Customer.objects.create(name="Edge customer", management_space=space, facade_space=other)
    # an instance baseline (administrators only) with its target, for the baseline routes
    from managed.services import baselines

    baseline = baselines.create_baseline("Edge baseline", {"retention": {"days": 30}})
    baselines.assign(baseline, [instance])
    # A pipeline (dev: space, prod: other) the item goes through.
    pipeline = rollout_pipelines.save_pipeline(
        "Edge train",
        [
            {"name": "dev", "selector": "spaces", "spaces": [space.pk]},
            {"name": "prod", "selector": "spaces", "spaces": [other.pk]},
        ],
    )
    rollout_pipelines.attach(pipeline, "shared_item", item.pk)
    return World(users, instance, space, other, item, template, subscription, trust, window)


def _promotions(space: Space) -> None:
    """One row of each promotions kind, for the sweep to address."""
    import uuid

    from promotions.models import InboundBundle, Promotion, RemoteSpace, Route, Trust
    from promotions.services import identities

    identities.ensure(space)
    remote = RemoteSpace.objects.create(name="Edge remote")
    Trust.objects.create(space=space, remote=remote, accepts=Trust.Accepts.RELEASES)
    route = Route.objects.create(space=space, project_id="Projects-1", project_name="Web")
    route.stages.create(position=0, kind="space", target=remote)
    env = route.remote_environments.create(remote=remote, name="Production")
    env.values.create(name="Region", value="eu")
    Promotion.objects.create(
        space=space,
        target=remote,
        project_id="Projects-1",
        project_name="Web",
        release_id="Releases-1",
        release_version="1.0",
        token="x",
    )
    payload = {
        "source": {"space": "S"},
        "project": {"name": "Web"},
        "release": {"version": "1"},
        "process": {"Steps": []},
        "packages": [],
        "remote_values": [],
        "variables": {"project": {"Variables": []}, "library": []},
    }
    InboundBundle.objects.create(
        id=uuid.uuid4(),
        space=space,
        source=remote,
        source_fingerprint="",
        project_name="Web",
        release_version="1",
        schema=1,
        token="x",
        payload=payload,
    )


@pytest.fixture
def world(db: None) -> World:
    return build_world()


@pytest.fixture
def as_user(world: World) -> Any:
    def _client(persona: str) -> Client:
        client = Client(raise_request_exception=False)
        client.force_login(world.users[persona])
        return client

    return _client
