"""One access suite for every API route: anonymous, outsider, viewer, manager, admin.

Every named route under /api/v1/ must have a ``Case`` below (the meta-test walks the router and
urlpatterns of odcm/api/urls.py). Adding a route = adding one line::

    Case("api:space-detail", obj="space", read=VIEWER_UP, write=MANAGER_UP),

- ``obj`` names a builder in ``OBJECTS`` that returns the URL kwargs for an object of the world
  (add a one-line builder for a new kind of object);
- ``read``: personas that may GET it (others get 404, or ``denied`` for a whole endpoint);
- ``write``: personas that may change it with ``method`` (default PATCH on a ``-detail`` route,
  POST otherwise); ``None`` for read-only routes;
- ``body``: a function of the world giving the write's JSON body;
- ``expect``: exact statuses for personas that differ from the rule ({"viewer": {400}}).

Rule: anonymous -> 401; read by a persona in ``read`` -> 200 (a list then contains the object);
a persona outside ``read`` -> 404 on an object route, or 200 without the object on a list
(``denied`` overrides: e.g. 403 for admin-only endpoints). Writes: allowed -> 2xx or 400
(validation); can read but not write -> 403; cannot read -> 404 (403 on list routes). A
read-only token of an allowed persona -> 403.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, reverse
from rest_framework.test import APIClient

from audit.models import AuditEntry
from audit.services import record
from identity import services
from identity.models import Role, User
from identity.services.tokens import create_token
from odcm.crypto import seal
from spaces.models import Instance, Space
from tests.conftest import make_user

ANON, OUTSIDER, VIEWER, MANAGER, ADMIN = "anonymous", "outsider", "viewer", "manager", "admin"
PERSONAS = [ANON, OUTSIDER, VIEWER, MANAGER, ADMIN]
EVERYONE = frozenset({OUTSIDER, VIEWER, MANAGER, ADMIN})
VIEWER_UP = frozenset({VIEWER, MANAGER, ADMIN})
MANAGER_UP = frozenset({MANAGER, ADMIN})
ADMIN_ONLY = frozenset({ADMIN})
OWNER = frozenset({VIEWER})  # objects owned by the viewer persona (tokens)


@dataclass
class World:
    """Instance I with spaces ``space`` (the one granted) and ``other``; mia is a Viewer and
    owen a Space manager of ``space`` through groups; oscar has nothing; ada is admin."""

    users: dict[str, User]
    instance: Instance
    space: Space
    other: Space
    viewers: Any
    managers: Any
    extra: dict[str, Any] = field(default_factory=dict)


def build_world() -> World:
    users = {
        OUTSIDER: make_user("oscar"),
        VIEWER: make_user("mia"),
        MANAGER: make_user("owen"),
        ADMIN: make_user("ada", admin=True),
    }
    instance = Instance(name="Matrix", slug="matrix", base_url="http://127.0.0.1:9/octo")
    seal(instance, "api_key", "API-MATRIXMATRIXMATRIXMATRIX00")
    instance.save()
    space = Space.objects.create(instance=instance, octopus_id="Spaces-1", name="Apps", slug="apps")
    other = Space.objects.create(instance=instance, octopus_id="Spaces-2", name="Ops", slug="ops")
    viewers = services.create_group(name="Viewers", members=[users[VIEWER]])
    managers = services.create_group(name="Managers", members=[users[MANAGER]])
    services.grant(viewers, Role.VIEWER, space=space)
    services.grant(managers, Role.MANAGER, space=space)
    return World(users, instance, space, other, viewers, managers)


def _grant(w: World) -> dict[str, Any]:
    return {"pk": w.space.grants.get(group=w.viewers).pk}


def _token(w: World) -> dict[str, Any]:
    return {"pk": create_token(w.users[VIEWER], name="matrix")[0].pk}


def _audit(w: World) -> dict[str, Any]:
    entry: AuditEntry = record("matrix.test", message="matrix")
    return {"pk": entry.pk}


def _item(w: World) -> Any:
    from sharing.models import SharedItem

    if "item" not in w.extra:
        w.extra["item"] = SharedItem.objects.create(
            kind=SharedItem.Kind.VARIABLE_SET, publisher=w.space, name="Matrix set"
        )
    return w.extra["item"]


def _subscription(w: World) -> dict[str, Any]:
    from sharing.models import SharedItem, Subscription

    item = SharedItem.objects.create(
        kind=SharedItem.Kind.VARIABLE_SET, publisher=w.other, name="Other set"
    )
    return {"pk": Subscription.objects.create(item=item, space=w.space).pk}


def _grant_rule(w: World) -> dict[str, Any]:
    from identity.models import GrantRule

    rule = GrantRule.objects.create(group=w.viewers, role="viewer", selector="tag", value="m")
    return {"pk": rule.pk}


def _subscription_rule(w: World) -> dict[str, Any]:
    """A rule the Space manager persona made (each person sees their own; admins all)."""
    from sharing.models import SubscriptionRule

    rule = SubscriptionRule.objects.create(
        item=_item(w), selector="tag", value="m", created_by=w.users[MANAGER]
    )
    return {"pk": rule.pk}


def _trust(w: World) -> dict[str, Any]:
    from sharing.models import Trust

    return {"pk": Trust.objects.create(publisher=w.space, subscriber=w.other).pk}


def _favourite(w: World) -> dict[str, Any]:
    from spaces.models import Favourite

    Favourite.objects.create(user=w.users[VIEWER], space=w.space)
    return {"space": w.space.pk}


def _service_account(w: World) -> Any:
    from identity.services.service_accounts import create_service_account

    if "service_account" not in w.extra:
        w.extra["service_account"] = create_service_account(
            name="deployer bot", owner=w.viewers, actor=w.users[ADMIN]
        )
    return w.extra["service_account"]


def _invitation_provider(w: World) -> str:
    from allauth.socialaccount.models import SocialApp

    if "provider" not in w.extra:
        SocialApp.objects.create(
            provider="openid_connect",
            provider_id="partnerco",
            name="PartnerCo",
            client_id="odcm",
            secret="matrix-test-app",
            settings={"server_url": "https://login.partner.example"},
        )
        w.extra["provider"] = "partnerco"
    return str(w.extra["provider"])


def _invitation(w: World) -> Any:
    from identity.services import invitations

    if "invitation" not in w.extra:
        w.extra["invitation"], _ = invitations.create(
            email="pat@partner.example", provider=_invitation_provider(w), actor=w.users[ADMIN]
        )
    return w.extra["invitation"]


def _service_account_token_body(w: World) -> dict[str, Any]:
    token, _ = create_token(_service_account(w).user, name="to revoke")
    return {"token": str(token.pk)}


def _r_rollout(w: World) -> dict[str, Any]:
    from rollouts.models import Rollout, RolloutWave

    # Waiting for the Managers group's approval: owen (the manager persona) approves.
    rollout = Rollout.objects.create(
        kind="shared_item",
        subject_id=_item(w).pk,
        revision=2,
        state=Rollout.State.WAITING_APPROVAL,
        approval_group=w.managers,
    )
    RolloutWave.objects.create(rollout=rollout, position=1, name="First")
    return {"pk": rollout.pk}


def _r_policy(w: World) -> dict[str, Any]:
    from rollouts.models import RolloutPolicy

    return {"pk": RolloutPolicy.objects.create(kind="shared_item", subject_id=_item(w).pk).pk}


def _r_run(w: World) -> dict[str, Any]:
    from rollouts.models import DeploymentRun, RunDeployment, RunWave

    run = DeploymentRun.objects.create(project="Web", environment="Production")
    wave = RunWave.objects.create(run=run, position=1)
    w.extra["deployment"] = RunDeployment.objects.create(run=run, wave=wave, space=w.space)
    return {"pk": run.pk}


def _r_pipeline(w: World) -> dict[str, Any]:
    from rollouts.services import pipelines

    if "pipeline" not in w.extra:
        w.extra["pipeline"] = pipelines.save_pipeline(
            "Matrix train",
            [
                {"name": "dev", "selector": "spaces", "spaces": [w.space.pk]},
                {"name": "prod", "selector": "spaces", "spaces": [w.other.pk]},
            ],
        )
    return {"pk": w.extra["pipeline"].pk}


def _subject_body(w: World) -> dict[str, Any]:
    return {"kind": "shared_item", "subject_id": str(_item(w).pk)}


def _attached_body(w: World) -> dict[str, Any]:
    """The shared item, put in the world's pipeline first (so that it can be taken out)."""
    from rollouts.services import pipelines

    pipelines.attach(w.extra["pipeline"], "shared_item", _item(w).pk)
    return _subject_body(w)


def _pipeline_body(w: World) -> dict[str, Any]:
    return {
        "name": "Another train",
        "stages": [{"name": "all", "selector": "instances", "instances": [str(w.instance.pk)]}],
    }


# URL kwargs for each kind of object. One line per kind.
def _config_plan(w: World) -> dict[str, Any]:
    from fleetconfig.services import make_plan

    return {"pk": make_plan("version: 1\n").pk}


def _p_remote(w: World) -> Any:
    from promotions.models import RemoteSpace

    if "p_remote" not in w.extra:
        w.extra["p_remote"] = RemoteSpace.objects.create(name="Matrix remote")
    return w.extra["p_remote"]


def _p_identity(w: World) -> dict[str, Any]:
    from promotions.services import identities

    return {"pk": identities.ensure(w.space).pk}


def _p_trust(w: World) -> dict[str, Any]:
    from promotions.models import Trust

    trust = Trust.objects.create(space=w.space, remote=_p_remote(w), accepts="releases")
    return {"pk": trust.pk}


def _p_route(w: World) -> dict[str, Any]:
    from promotions.models import Route

    return {"pk": Route.objects.create(space=w.space, project_id="Projects-1", project_name="W").pk}


def _p_route_value(w: World) -> dict[str, Any]:
    from promotions.models import RemoteEnvironment, RemoteValue, RouteStage

    route = _p_route(w)["pk"]
    RouteStage.objects.create(route_id=route, position=0, kind="space", target=_p_remote(w))
    env = RemoteEnvironment.objects.create(route_id=route, remote=_p_remote(w), name="Production")
    return {"pk": route, "value_id": RemoteValue.objects.create(environment=env, name="V").pk}


def _p_route_body(w: World) -> dict[str, Any]:
    return {"space": str(w.space.pk), "project_id": "Projects-9",
            "stages": [{"position": 1, "target": str(_p_remote(w).pk)}]}  # fmt: skip


def _p_promotion(w: World) -> dict[str, Any]:
    from promotions.models import Promotion

    return {
        "pk": Promotion.objects.create(
            space=w.space,
            target=_p_remote(w),
            project_id="P",
            project_name="W",
            release_id="R",
            release_version="1",
            token="x",
        ).pk
    }


def _p_inbound(w: World) -> dict[str, Any]:
    import uuid

    from promotions.models import InboundBundle

    payload = {
        "source": {"space": "S"},
        "project": {"name": "W"},
        "release": {"version": "1"},
        "process": {"Steps": []},
        "packages": [],
        "remote_values": [],
        "variables": {
            "project": {"Variables": [{"Name": "P", "IsSensitive": True, "Value": None}]},
            "library": [],
        },
    }
    return {
        "pk": InboundBundle.objects.create(
            id=uuid.uuid4(),
            space=w.space,
            source=_p_remote(w),
            source_fingerprint="",
            project_name="W",
            release_version="1",
            schema=1,
            token="x",
            payload=payload,
        ).pk
    }


def _p_pem(w: World) -> str:
    from promotions import pki

    return pki.cert_pem(pki.generate("Matrix peer", days=1)[1])


def _blueprint(w: World) -> Any:
    from managed.services import blueprints

    if "blueprint" not in w.extra:
        bp = blueprints.create_blueprint("Matrix", {"environments": []}, management_space=w.space)
        w.extra["target"] = blueprints.assign(bp, [w.other])[0]
        w.extra["blueprint"] = bp
    return w.extra["blueprint"]


def _template(w: World) -> Any:
    from managed.models import Downstream, TemplateProject, TemplateRevision

    if "template" not in w.extra:
        tpl = TemplateProject.objects.create(
            space=w.space, name="Matrix app", octopus_project_id="Projects-1", latest_revision=1
        )
        TemplateRevision.objects.create(template=tpl, number=1, document={})
        w.extra["downstream"] = Downstream.objects.create(template=tpl, space=w.other)
        w.extra["template"] = tpl
    return w.extra["template"]


def _baseline(w: World) -> Any:
    from managed.services import baselines

    if "baseline" not in w.extra:
        bl = baselines.create_baseline("Matrix baseline", {"retention": {"days": 30}})
        w.extra["baseline_target"] = baselines.assign(bl, [w.instance])[0]
        w.extra["baseline"] = bl
    return w.extra["baseline"]


def _baseline_target(w: World) -> dict[str, Any]:
    _baseline(w)
    return {"pk": w.extra["baseline_target"].pk}


def _split(w: World) -> dict[str, Any]:
    """Out of the space owen manages into Ops, which he does not: he sees it, cannot run it."""
    from managed.models import Split

    return {"pk": Split.objects.create(source=w.space, target=w.other, projects=["Web"]).pk}


def _customer(w: World) -> dict[str, Any]:
    from managed.models import Customer

    row = Customer.objects.create(name="Matrix customer", management_space=w.space)
    return {"pk": row.pk}


def _target(w: World) -> dict[str, Any]:
    _blueprint(w)
    return {"pk": w.extra["target"].pk}


def _downstream(w: World) -> dict[str, Any]:
    _template(w)
    return {"pk": w.extra["downstream"].pk}


OBJECTS: dict[str, Callable[[World], dict[str, Any]]] = {
    "blueprint": lambda w: {"pk": _blueprint(w).pk},
    "target": _target,
    "template": lambda w: {"pk": _template(w).pk},
    "downstream": _downstream,
    "baseline": lambda w: {"pk": _baseline(w).pk},
    "baseline_target": _baseline_target,
    "split": _split,
    "customer": _customer,
    "space": lambda w: {"pk": w.space.pk},
    "space_slug": lambda w: {"pk": w.space.slug},
    "space_id": lambda w: {"space_id": w.space.pk},
    "instance_id": lambda w: {"instance_id": w.instance.pk},
    "instance": lambda w: {"pk": w.instance.pk},
    "group": lambda w: {"pk": w.viewers.pk},
    "grant": _grant,
    "grant_rule": _grant_rule,
    "subscription_rule": _subscription_rule,
    "token": _token,
    "audit": _audit,
    "role": lambda w: {"role": "viewer"},
    "user": lambda w: {"uuid": w.users[VIEWER].uuid},
    "item": lambda w: {"pk": _item(w).pk},
    "subscription": _subscription,
    "trust": _trust,
    "favourite": _favourite,
    "config_plan": _config_plan,
    "p_identity": _p_identity,
    "p_remote": lambda w: {"pk": _p_remote(w).pk},
    "p_trust": _p_trust,
    "p_route": _p_route,
    "p_route_value": _p_route_value,
    "p_promotion": _p_promotion,
    "p_inbound": _p_inbound,
    "service_account": lambda w: {"pk": _service_account(w).pk},
    "invitation": lambda w: {"pk": _invitation(w).pk},
    "r_rollout": _r_rollout,
    "r_policy": _r_policy,
    "r_run": _r_run,
    "r_pipeline": _r_pipeline,
}


def _grant_body(w: World) -> dict[str, Any]:
    return {"group": str(w.viewers.pk), "role": "deployer", "space": str(w.space.pk)}


@dataclass(frozen=True)
class Case:
    name: str
    obj: str | None = None
    read: frozenset[str] = VIEWER_UP
    write: frozenset[str] | None = None
    method: str | None = None
    body: Callable[[World], dict[str, Any]] | None = None
    denied: int | None = None
    expect: dict[str, set[int]] = field(default_factory=dict)
    list_of: str | None = None  # a list route: the object kind it should (not) contain
    row_key: str = "id"  # the field of a listed row that holds that object's "pk"

    @property
    def id(self) -> str:
        return self.name.removeprefix("api:")


CASES = [
    Case("api:me", read=EVERYONE),
    Case("api:token-list", read=EVERYONE, write=EVERYONE, body=lambda w: {"name": "t"}),
    Case("api:token-detail", obj="token", read=OWNER),
    Case("api:token-revoke", obj="token", read=frozenset(), write=OWNER, method="post"),
    Case("api:audit-list", read=ADMIN_ONLY, denied=403),
    Case("api:audit-detail", obj="audit", read=ADMIN_ONLY, denied=403),
    Case("api:group-list", read=ADMIN_ONLY, write=ADMIN_ONLY, denied=403,
         body=lambda w: {"name": "New group", "external_groups": ["cn=x"]}),
    Case("api:group-detail", obj="group", read=ADMIN_ONLY, write=ADMIN_ONLY, denied=403),
    Case("api:grant-list", read=VIEWER_UP, write=MANAGER_UP, body=_grant_body, list_of="grant",
         expect={OUTSIDER: {400}}),  # the space does not exist for an outsider
    Case("api:grant-detail", obj="grant", read=VIEWER_UP, write=MANAGER_UP, method="delete"),
    Case("api:grant-rule-list", read=ADMIN_ONLY, write=ADMIN_ONLY, denied=403,
         list_of="grant_rule", body=lambda w: {"group": str(w.viewers.pk), "role": "deployer",
                                               "selector": "tag", "value": "prod"}),
    Case("api:grant-rule-detail", obj="grant_rule", read=ADMIN_ONLY, write=ADMIN_ONLY,
         denied=403, method="delete"),
    Case("api:role-mapping-list", read=ADMIN_ONLY, denied=403),
    Case("api:invitation-list", read=ADMIN_ONLY, write=ADMIN_ONLY, denied=403,
         body=lambda w: {"email": "kim@partner.example", "provider": _invitation_provider(w)}),
    Case("api:invitation-detail", obj="invitation", read=ADMIN_ONLY, write=ADMIN_ONLY,
         denied=403, method="delete"),
    Case("api:invitation-resend", obj="invitation", read=frozenset(), write=ADMIN_ONLY,
         method="post", expect={p: {403} for p in (OUTSIDER, VIEWER, MANAGER)}),
    Case("api:role-mapping-detail", obj="role", read=ADMIN_ONLY, write=ADMIN_ONLY, denied=403,
         body=lambda w: {"octopus_roles": ["Project viewer"]}),
    Case("api:user-list", read=ADMIN_ONLY, denied=403),
    Case("api:user-detail", obj="user", read=ADMIN_ONLY, denied=403),
    Case("api:user-access", obj="user", read=ADMIN_ONLY, denied=403),
    Case("api:space-access", obj="space_id", read=MANAGER_UP, expect={VIEWER: {403}}),
    # service accounts: the viewers' group owns the world's one
    Case("api:service-account-list", read=EVERYONE, write=frozenset({VIEWER, ADMIN}),
         body=lambda w: {"name": "ci", "owner": str(w.viewers.pk)}),
    Case("api:service-account-detail", obj="service_account", read=frozenset({VIEWER, ADMIN})),
    Case("api:service-account-tokens", obj="service_account", read=frozenset({VIEWER, ADMIN}),
         write=frozenset({VIEWER, ADMIN}), method="post", body=lambda w: {"name": "ci"}),
    Case("api:service-account-revoke-token", obj="service_account", read=frozenset(),
         write=frozenset({VIEWER, ADMIN}), method="post", body=_service_account_token_body),
    # sharing
    Case("api:sharing-item-list", read=VIEWER_UP, list_of="item", write=MANAGER_UP,
         body=lambda w: {"kind": "variable_set", "name": "N", "publisher": str(w.space.pk)},
         expect={OUTSIDER: {400, 404}}),
    Case("api:sharing-item-detail", obj="item", read=VIEWER_UP, write=MANAGER_UP),
    Case("api:sharing-item-revisions", obj="item", read=VIEWER_UP, write=MANAGER_UP),
    Case("api:sharing-item-diff", obj="item", read=VIEWER_UP, expect={VIEWER: {200, 404},
         MANAGER: {200, 404}, ADMIN: {200, 404}}),
    Case("api:sharing-item-push", obj="item", read=frozenset(), write=MANAGER_UP, method="post",
         expect={VIEWER: {403}}),
    Case("api:sharing-item-import-variable-set", read=frozenset(), write=MANAGER_UP,
         method="post", body=lambda w: {"publisher": str(w.space.pk),
                                        "library_variable_set_id": "LibraryVariableSets-1"},
         # The world's Octopus does not answer: a gateway error once access is granted.
         expect={OUTSIDER: {400, 404}, MANAGER: {502}, ADMIN: {502}}),
    Case("api:sharing-item-import-step-template", read=frozenset(), write=MANAGER_UP,
         method="post", body=lambda w: {"publisher": str(w.space.pk)},
         expect={OUTSIDER: {400, 404}}),
    Case("api:sharing-subscription-list", read=VIEWER_UP, list_of="subscription"),
    Case("api:sharing-subscription-detail", obj="subscription", read=VIEWER_UP,
         write=MANAGER_UP),
    Case("api:sharing-subscription-sync", obj="subscription", read=frozenset(),
         write=MANAGER_UP, method="post", expect={VIEWER: {403}}),
    Case("api:sharing-subscription-update-preview", obj="subscription", read=VIEWER_UP),
    Case("api:sharing-subscription-deliveries", obj="subscription", read=VIEWER_UP),
    Case("api:sharing-subscription-rule-list", read=frozenset({MANAGER, ADMIN}),
         list_of="subscription_rule", write=VIEWER_UP,
         body=lambda w: {"item": str(_item(w).pk), "selector": "tag", "value": "prod"},
         expect={OUTSIDER: {404}}),  # the item is invisible to an outsider
    Case("api:sharing-subscription-rule-detail", obj="subscription_rule",
         read=frozenset({MANAGER, ADMIN}), write=frozenset({MANAGER, ADMIN}), method="delete"),
    Case("api:sharing-trust-list", read=VIEWER_UP, list_of="trust"),
    Case("api:sharing-trust-detail", obj="trust", read=VIEWER_UP),
    Case("api:sharing-trust-by-tag", read=frozenset(), write=MANAGER_UP, method="post",
         body=lambda w: {"publisher": str(w.space.pk), "tag": "prod"},
         expect={OUTSIDER: {400, 404}}),
    Case("api:sharing-trust-accept", obj="trust", read=frozenset(), write=ADMIN_ONLY,
         method="post", expect={VIEWER: {403}, MANAGER: {403}}),
    Case("api:sharing-trust-revoke", obj="trust", read=frozenset(), write=MANAGER_UP,
         method="post", expect={VIEWER: {403}}),
    Case("api:sharing-broker-list", read=EVERYONE),
    # registry (spaces app)
    Case("api:instance-list", read=VIEWER_UP, list_of="instance", write=ADMIN_ONLY,
         body=lambda w: {"name": "x"}),
    Case("api:instance-detail", obj="instance", read=VIEWER_UP, write=ADMIN_ONLY),
    Case("api:instance-refresh", obj="instance", read=frozenset(), write=ADMIN_ONLY,
         method="post", expect={VIEWER: {403}, MANAGER: {403}, ADMIN: {200, 502, 503}}),
    Case("api:space-list", read=VIEWER_UP, list_of="space", write=ADMIN_ONLY,
         body=lambda w: {"instance": str(w.instance.pk), "name": "New space"},
         expect={OUTSIDER: {400}, ADMIN: {201, 400, 502, 503}}),
    Case("api:space-detail", obj="space", read=VIEWER_UP),
    Case("api:space-enlist", obj="space", read=frozenset(), write=ADMIN_ONLY, method="post",
         expect={VIEWER: {403}, MANAGER: {403}}),  # instance owners' decision
    Case("api:space-unenlist", obj="space", read=frozenset(), write=ADMIN_ONLY, method="post",
         expect={VIEWER: {403}, MANAGER: {403}}),  # instance owners' decision
    Case("api:space-delete-in-octopus", obj="space", read=frozenset(), write=ADMIN_ONLY,
         method="post", body=lambda w: {"confirm_name": "not its name"},
         expect={VIEWER: {403}, MANAGER: {403}}),
    Case("api:instance-enlist-many", read=frozenset(), write=ADMIN_ONLY, method="post",
         body=lambda w: {"instances": [{"name": "X", "url": "http://10.255.255.1",
                                        "api_key": "API-X"}]}),
    Case("api:instance-status-history", obj="instance_id", read=VIEWER_UP),
    Case("api:instance-octopus-people", obj="instance", read=ADMIN_ONLY,
         expect={VIEWER: {403}, MANAGER: {403}, ADMIN: {200, 502}}),  # Octopus is down
    Case("api:standard-environments", read=EVERYONE, write=ADMIN_ONLY, method="put",
         body=lambda w: {"names": ["Development", "Production"]}),
    Case("api:grant-bulk", read=frozenset(), write=MANAGER_UP, method="post",
         body=lambda w: {"group": str(w.viewers.pk), "role": "deployer",
                         "spaces": [str(w.space.pk)]},
         expect={OUTSIDER: {400}, VIEWER: {403}}),  # the space does not exist for an outsider
    Case("api:sharing-subscription-bulk", read=frozenset(), write=MANAGER_UP, method="post",
         body=lambda w: {"item": str(_item(w).pk), "spaces": [str(w.space.pk)]},
         expect={OUTSIDER: {404}, VIEWER: {403}}),  # the item is invisible to an outsider
    Case("api:favourite-list", read=EVERYONE, write=VIEWER_UP,
         body=lambda w: {"space": str(w.space.pk)}, expect={OUTSIDER: {400, 404}}),
    Case("api:favourite-detail", obj="favourite", read=OWNER, write=OWNER, method="delete"),
    # monitoring reports
    Case("api:report-spaces", read=VIEWER_UP, list_of="space_slug", row_key="slug"),
    Case("api:report-deployments", read=EVERYONE),
    Case("api:report-versions", read=EVERYONE),
    Case("api:sharing-broker-pause", read=frozenset(), write=ADMIN_ONLY, method="post",
         body=lambda w: {"paused": False}),
    # configuration as code
    Case("api:config-export", read=ADMIN_ONLY, denied=403),
    Case("api:config-schema", read=EVERYONE),
    Case("api:config-plan-list", read=ADMIN_ONLY, write=ADMIN_ONLY, denied=403, method="post",
         body=lambda w: {"document": "version: 1\n"}),
    Case("api:config-plan-detail", obj="config_plan", read=ADMIN_ONLY, denied=403),
    Case("api:config-plan-apply", obj="config_plan", read=frozenset(), write=ADMIN_ONLY,
         method="post", expect={OUTSIDER: {403}, VIEWER: {403}, MANAGER: {403}}),
    # promotions
    Case("api:promotions-identity-list", read=VIEWER_UP, list_of="p_identity"),
    Case("api:promotions-identity-detail", obj="p_identity", read=VIEWER_UP),
    Case("api:promotions-identity-generate", read=frozenset(), write=MANAGER_UP, method="post",
         body=lambda w: {"space": str(w.space.pk)}, expect={OUTSIDER: {404}, VIEWER: {403}}),
    Case("api:promotions-remote-list", read=EVERYONE, list_of="p_remote", write=ADMIN_ONLY,
         body=lambda w: {"name": "Peer", "certificate": _p_pem(w)}),
    Case("api:promotions-remote-detail", obj="p_remote", read=EVERYONE),
    Case("api:promotions-trust-list", read=VIEWER_UP, list_of="p_trust", write=MANAGER_UP,
         body=lambda w: {"space": str(w.space.pk), "remote": str(_p_remote(w).pk),
                         "accepts": "receipts"}, expect={OUTSIDER: {404}, VIEWER: {403}}),
    Case("api:promotions-trust-detail", obj="p_trust", read=VIEWER_UP),
    Case("api:promotions-trust-confirm", obj="p_trust", read=frozenset(), write=MANAGER_UP,
         method="post", body=lambda w: {"fingerprint": "00"}, expect={VIEWER: {403}}),
    Case("api:promotions-trust-revoke", obj="p_trust", read=frozenset(), write=MANAGER_UP,
         method="post", expect={VIEWER: {403}}),
    # The world's Octopus does not answer: a manager's route write is a 400 that says so.
    Case("api:promotions-route-list", read=VIEWER_UP, list_of="p_route", write=MANAGER_UP,
         body=_p_route_body, expect={OUTSIDER: {404}, VIEWER: {403}}),
    Case("api:promotions-route-detail", obj="p_route", read=VIEWER_UP, write=MANAGER_UP,
         method="put", body=_p_route_body),
    Case("api:promotions-route-values", obj="p_route", read=VIEWER_UP, write=MANAGER_UP,
         method="post", body=lambda w: {"target": str(_p_remote(w).pk),
                                        "environment": "Production", "name": "X", "value": "v"},
         expect={VIEWER: {403}}),
    Case("api:promotions-route-value-delete", obj="p_route_value", read=frozenset(),
         write=MANAGER_UP, method="delete", expect={VIEWER: {403}}),
    Case("api:promotions-route-progression", obj="p_route", read=VIEWER_UP,
         expect={VIEWER: {400}, MANAGER: {400}, ADMIN: {400}}),  # Octopus is down
    Case("api:promotions-promotion-list", read=VIEWER_UP, list_of="p_promotion",
         write=MANAGER_UP, body=lambda w: {"route": str(_p_route(w)["pk"]), "release": "R",
                                           "target": str(_p_remote(w).pk)},
         expect={OUTSIDER: {404}, VIEWER: {403}}),
    Case("api:promotions-promotion-detail", obj="p_promotion", read=VIEWER_UP),
    Case("api:promotions-promotion-bundle", obj="p_promotion", read=VIEWER_UP),
    Case("api:promotions-inbox-list", read=VIEWER_UP, list_of="p_inbound"),
    Case("api:promotions-inbox-detail", obj="p_inbound", read=VIEWER_UP),
    Case("api:promotions-inbox-review", obj="p_inbound", read=VIEWER_UP),
    Case("api:promotions-inbox-supply", obj="p_inbound", read=frozenset(), write=MANAGER_UP,
         method="post", body=lambda w: {"name": "P", "environment": "", "value": "v"},
         expect={VIEWER: {403}}),
    Case("api:promotions-inbox-import", obj="p_inbound", read=frozenset(), write=MANAGER_UP,
         method="post", expect={VIEWER: {403}}),
    Case("api:promotions-inbox-edits", obj="p_inbound", read=VIEWER_UP,
         expect={VIEWER: {404}, MANAGER: {404}, ADMIN: {404}}),  # not imported yet
    Case("api:promotions-inbox-compare", obj="p_inbound", read=VIEWER_UP,
         expect={VIEWER: {404}, MANAGER: {404}, ADMIN: {404}}),  # not imported yet
    # managed spaces: blueprints belong to their management space's managers
    Case("api:managed-blueprint-list", read=MANAGER_UP, list_of="blueprint", write=MANAGER_UP,
         body=lambda w: {"name": "New", "management_space_id": str(w.space.pk),
                         "document": {"environments": [{"name": "Dev"}]}},
         expect={OUTSIDER: {404}, VIEWER: {404}}),  # the space is not theirs to manage
    Case("api:managed-blueprint-detail", obj="blueprint", read=MANAGER_UP, write=MANAGER_UP,
         body=lambda w: {"description": "changed"}),
    Case("api:managed-blueprint-revisions", obj="blueprint", read=MANAGER_UP),
    Case("api:managed-blueprint-assign", obj="blueprint", read=frozenset(), write=MANAGER_UP,
         method="post", body=lambda w: {"spaces": [str(w.space.pk)]},
         expect={MANAGER: {400}, ADMIN: {400}}),  # its own management space: refused
    Case("api:managed-blueprint-rules", obj="blueprint", read=frozenset(), write=ADMIN_ONLY,
         method="post", body=lambda w: {"tags": [], "regions": []}, expect={MANAGER: {403}}),
    Case("api:managed-blueprint-plan", obj="blueprint", read=frozenset(), write=MANAGER_UP,
         method="post"),
    Case("api:managed-blueprint-apply", obj="blueprint", read=frozenset(), write=MANAGER_UP,
         method="post"),
    Case("api:managed-target-list", read=MANAGER_UP, list_of="target"),
    Case("api:managed-target-detail", obj="target", read=MANAGER_UP),
    # template projects: seen with their space, changed by its managers
    Case("api:managed-template-list", read=VIEWER_UP, list_of="template", write=MANAGER_UP,
         body=lambda w: {"space_id": str(w.space.pk), "project_name": "Nope"},
         expect={OUTSIDER: {404}, VIEWER: {404}, MANAGER: {400, 502, 503},
                 ADMIN: {400, 502, 503}}),  # Octopus is not reachable in this world
    Case("api:managed-template-detail", obj="template", read=VIEWER_UP),
    Case("api:managed-template-revisions", obj="template", read=VIEWER_UP),
    Case("api:managed-template-diff", obj="template", read=VIEWER_UP),
    Case("api:managed-template-snapshot", obj="template", read=frozenset(), write=MANAGER_UP,
         method="post", expect={VIEWER: {403}, MANAGER: {400, 502, 503},
                                ADMIN: {400, 502, 503}}),
    Case("api:managed-template-values", obj="template", read=frozenset(), write=MANAGER_UP,
         method="post", body=lambda w: {"values": {"Db.Password": "x"}}, expect={VIEWER: {403}}),
    Case("api:managed-template-downstreams", obj="template", read=VIEWER_UP, write=MANAGER_UP,
         method="post", body=lambda w: {"space_id": str(w.other.pk)},
         expect={VIEWER: {403}, MANAGER: {404}}),  # Ops is not a space owen manages
    Case("api:managed-template-push", obj="template", read=frozenset(), write=MANAGER_UP,
         method="post", expect={VIEWER: {403}}),
    Case("api:managed-downstream-list", read=VIEWER_UP, list_of="downstream"),
    Case("api:managed-downstream-detail", obj="downstream", read=VIEWER_UP),
    Case("api:managed-downstream-resolve", obj="downstream", read=frozenset(), write=ADMIN_ONLY,
         method="post", body=lambda w: {"key": "step/x", "choice": "upstream"},
         expect={VIEWER: {403}, MANAGER: {403}, ADMIN: {400}}),  # no such conflict
    # instance baselines: administrators only; to anyone else they do not exist
    Case("api:managed-baseline-list", read=ADMIN_ONLY, list_of="baseline", write=ADMIN_ONLY,
         body=lambda w: {"name": "New baseline", "document": {"retention": {"days": 7}}}),
    Case("api:managed-baseline-detail", obj="baseline", read=ADMIN_ONLY, write=ADMIN_ONLY,
         body=lambda w: {"description": "Every instance"}),
    Case("api:managed-baseline-revisions", obj="baseline", read=ADMIN_ONLY),
    Case("api:managed-baseline-assign", obj="baseline", read=frozenset(), write=ADMIN_ONLY,
         method="post", body=lambda w: {"instances": [str(w.instance.pk)]}),
    Case("api:managed-baseline-rules", obj="baseline", read=frozenset(), write=ADMIN_ONLY,
         method="post", body=lambda w: {"all_instances": True}),
    Case("api:managed-baseline-plan", obj="baseline", read=frozenset(), write=ADMIN_ONLY,
         method="post"),
    Case("api:managed-baseline-apply", obj="baseline", read=frozenset(), write=ADMIN_ONLY,
         method="post"),
    Case("api:managed-baseline-check", obj="baseline", read=frozenset(), write=ADMIN_ONLY,
         method="post"),
    Case("api:managed-baseline-target-list", read=ADMIN_ONLY, list_of="baseline_target"),
    Case("api:managed-baseline-target-detail", obj="baseline_target", read=ADMIN_ONLY),
    # splits: seen by managers of either space; planned and run by who manages both
    Case("api:managed-split-list", read=MANAGER_UP, list_of="split", write=MANAGER_UP,
         body=lambda w: {"source_id": str(w.space.pk), "target_id": str(w.space.pk),
                         "projects": ["Web"]},
         # invisible to an outsider; a viewer manages neither; a split into its own
         # source is refused once access is granted (no second space owen manages)
         expect={OUTSIDER: {404}, VIEWER: {403}, MANAGER: {400}, ADMIN: {400}}),
    Case("api:managed-split-detail", obj="split", read=MANAGER_UP),
    Case("api:managed-split-run", obj="split", read=frozenset(), write=ADMIN_ONLY,
         method="post", expect={MANAGER: {403}}),  # owen does not manage the target, Ops
    # customers: seen and resynced by managers of their management space
    Case("api:managed-customer-list", read=MANAGER_UP, list_of="customer", write=ADMIN_ONLY,
         body=lambda w: {"name": "New customer", "management_space_id": str(w.space.pk)},
         # owen manages the space but not its instance; the world's Octopus does not answer
         expect={OUTSIDER: {404}, MANAGER: {403}, ADMIN: {400}}),
    Case("api:managed-customer-detail", obj="customer", read=MANAGER_UP, write=MANAGER_UP,
         method="delete"),
    Case("api:managed-customer-resync", obj="customer", read=frozenset(), write=MANAGER_UP,
         method="post"),
    Case("api:managed-customer-rotate-key", obj="customer", read=frozenset(), write=MANAGER_UP,
         method="post"),
    # rollouts: who may see the shared item sees its rollouts and policy; its managers act
    Case("api:rollout-list", read=VIEWER_UP, list_of="r_rollout", write=MANAGER_UP,
         body=lambda w: {**_subject_body(w), "revision": 1},
         expect={OUTSIDER: {404}, VIEWER: {403}}),
    Case("api:rollout-detail", obj="r_rollout", read=VIEWER_UP),
    Case("api:rollout-pause", obj="r_rollout", read=frozenset(), write=MANAGER_UP,
         method="post", expect={VIEWER: {403}}),
    Case("api:rollout-resume", obj="r_rollout", read=frozenset(), write=MANAGER_UP,
         method="post", expect={VIEWER: {403}, MANAGER: {409}, ADMIN: {409}}),  # not paused
    Case("api:rollout-abort", obj="r_rollout", read=frozenset(), write=MANAGER_UP,
         method="post", expect={VIEWER: {403}}),
    Case("api:rollout-rollback", obj="r_rollout", read=frozenset(), write=MANAGER_UP,
         method="post", expect={VIEWER: {403}}),
    Case("api:rollout-skip", obj="r_rollout", read=frozenset(), write=MANAGER_UP,
         method="post", body=lambda w: {"target": str(w.space.pk)},
         expect={VIEWER: {403}, MANAGER: {400, 404, 409}, ADMIN: {400, 404, 409}}),
    # Members of the approval group (Managers) approve; an admin outside it does not.
    Case("api:rollout-approve", obj="r_rollout", read=frozenset(), write=frozenset({MANAGER}),
         method="post", expect={VIEWER: {403}, ADMIN: {403}}),
    Case("api:rollout-policy-list", read=VIEWER_UP, list_of="r_policy", write=MANAGER_UP,
         body=lambda w: {**_subject_body(w), "waves": [{"selector": "percent", "percent": 50}]},
         expect={OUTSIDER: {404}, VIEWER: {403}}),
    Case("api:rollout-policy-detail", obj="r_policy", read=VIEWER_UP, write=MANAGER_UP,
         method="delete"),
    # runs: seen by who sees one of their spaces; cancelled by who may deploy to all of them
    Case("api:rollout-run-list", read=VIEWER_UP, list_of="r_run", write=MANAGER_UP,
         body=lambda w: {"project": "Web", "environment": "Production",
                         "waves": [[str(w.space.pk)]]},
         # The world's Octopus does not answer: a gateway error once access is granted.
         expect={OUTSIDER: {400, 403, 404}, VIEWER: {400, 403},
                 MANAGER: {201, 400, 502, 503}, ADMIN: {201, 400, 502, 503}}),
    Case("api:rollout-run-detail", obj="r_run", read=VIEWER_UP),
    Case("api:rollout-run-cancel", obj="r_run", read=frozenset(), write=MANAGER_UP,
         method="post", expect={VIEWER: {403}}),
    Case("api:rollout-run-intervention", obj="r_run", read=frozenset(), write=MANAGER_UP,
         method="post",
         body=lambda w: {"deployment": str(w.extra["deployment"].pk), "proceed": True},
         # Nothing waits in Octopus: a conflict once the right is granted.
         expect={VIEWER: {403}, MANAGER: {400, 409}, ADMIN: {400, 409}}),
    # pipelines: everyone sees them; administrators define them; managers of a subject
    # attach and promote it; the version report names every instance (administrators)
    Case("api:rollout-pipeline-list", read=EVERYONE, list_of="r_pipeline", write=ADMIN_ONLY,
         body=_pipeline_body),
    Case("api:rollout-pipeline-detail", obj="r_pipeline", read=EVERYONE, write=ADMIN_ONLY,
         method="put", body=_pipeline_body),
    Case("api:rollout-pipeline-board", obj="r_pipeline", read=EVERYONE),
    Case("api:rollout-pipeline-versions", obj="r_pipeline", read=ADMIN_ONLY, denied=403),
    Case("api:rollout-pipeline-attach", obj="r_pipeline", read=frozenset(), write=MANAGER_UP,
         method="post", body=_subject_body, expect={OUTSIDER: {404}, VIEWER: {403}}),
    Case("api:rollout-pipeline-detach", obj="r_pipeline", read=frozenset(), write=MANAGER_UP,
         method="post", body=_attached_body, expect={OUTSIDER: {404}, VIEWER: {403}}),
    Case("api:rollout-pipeline-promote", obj="r_pipeline", read=frozenset(),
         write=MANAGER_UP, method="post",
         body=lambda w: {**_subject_body(w), "revision": 1, "stage": 2},
         expect={OUTSIDER: {404}, VIEWER: {403}}),
]  # fmt: skip

# Routes that are not resources (no access rule to test); each with its reason.
NOT_RESOURCES = {"api:api-root": "DRF's browsable index of the router"}


def _client(world: World, persona: str, *, read_only: bool = False, **scope: Any) -> APIClient:
    client = APIClient()
    if persona != ANON:
        token = create_token(world.users[persona], name="matrix", read_only=read_only, **scope)[1]
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def _url(case: Case, world: World) -> tuple[str, dict[str, Any]]:
    kwargs = OBJECTS[case.obj](world) if case.obj else {}
    return reverse(case.name, kwargs=kwargs), kwargs


def _ids(data: Any, key: str = "id") -> set[str]:
    rows = data.get("results", data) if isinstance(data, dict) else data
    return {str(r.get(key, "")) for r in rows if isinstance(r, dict)}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("case", "persona"),
    list(itertools.product(CASES, PERSONAS)),
    ids=[f"{c.id}-{p}" for c, p in itertools.product(CASES, PERSONAS)],
)
def test_read_access(case: Case, persona: str) -> None:
    world = build_world()
    url, kwargs = _url(case, world)
    listed = OBJECTS[case.list_of](world)["pk"] if case.list_of else None
    response = _client(world, persona).get(url)
    if persona in case.expect and case.method is None and case.write is None:
        assert response.status_code in case.expect[persona], response.content
        return
    if persona == ANON:
        assert response.status_code == 401, response.content
    elif persona in case.read:
        assert response.status_code == 200, response.content
        if listed is not None:
            assert str(listed) in _ids(response.json(), case.row_key)
    elif case.denied is not None:
        assert response.status_code == case.denied, response.content
    elif case.obj is None or not case.read:
        # A list: open to all, showing nothing they may not see (or 404/405 for
        # action routes that have no GET; 403 where the permission check comes first).
        allowed = (200, 404, 405) if case.read else (200, 403, 404, 405)
        assert response.status_code in allowed, response.content
        if listed is not None and response.status_code == 200:
            assert str(listed) not in _ids(response.json(), case.row_key)
    else:
        assert response.status_code in (404, 405), response.content


WRITE_CASES = [c for c in CASES if c.write is not None]


def _write(case: Case, world: World, client: APIClient, url: str) -> Any:
    method = case.method or ("patch" if case.name.endswith("-detail") else "post")
    body = case.body(world) if case.body else {}
    return getattr(client, method)(url, body, format="json")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("case", "persona"),
    list(itertools.product(WRITE_CASES, PERSONAS)),
    ids=[f"{c.id}-{p}" for c, p in itertools.product(WRITE_CASES, PERSONAS)],
)
def test_write_access(case: Case, persona: str) -> None:
    assert case.write is not None
    world = build_world()
    url, _ = _url(case, world)
    response = _write(case, world, _client(world, persona), url)
    code = response.status_code
    if persona in case.expect:
        assert code in case.expect[persona], response.content
    elif persona == ANON:
        assert code == 401, response.content
    elif persona in case.write:
        assert 200 <= code < 300 or code == 400, response.content
    elif case.denied is not None:
        assert code == case.denied, response.content
    elif persona in case.read or not case.obj or case.name.endswith("-list"):
        assert code == 403, response.content
    else:
        assert code == 404, response.content


@pytest.mark.django_db
@pytest.mark.parametrize("case", WRITE_CASES, ids=[c.id for c in WRITE_CASES])
def test_read_only_token_cannot_write(case: Case) -> None:
    assert case.write is not None
    world = build_world()
    persona = next(p for p in (ADMIN, MANAGER, VIEWER, OUTSIDER) if p in case.write)
    url, _ = _url(case, world)
    response = _write(case, world, _client(world, persona, read_only=True), url)
    assert response.status_code == 403, response.content
    assert "read-only" in response.json()["detail"]


def _route_names(patterns: list[Any], namespace: str = "api") -> set[str]:
    names: set[str] = set()
    for entry in patterns:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}:{entry.namespace}" if entry.namespace else namespace
            names |= _route_names(entry.url_patterns, inner)
        elif isinstance(entry, URLPattern) and entry.name:
            names.add(f"{namespace}:{entry.name}")
    return names


def test_every_api_route_has_an_access_case() -> None:
    from odcm.api import urls

    registered = _route_names(urls.urlpatterns)
    for prefix, viewset, basename in urls.router.registry:
        assert f"api:{basename}-list" in registered or f"api:{basename}-detail" in registered, (
            prefix
        )
        for extra in viewset.get_extra_actions():
            registered.add(f"api:{basename}-{extra.url_name}")  # type: ignore[attr-defined]
    covered = {c.name for c in CASES} | set(NOT_RESOURCES)
    missing = sorted(registered - covered)
    assert not missing, f"API routes without an access case in {__name__}: {missing}"
    stale = sorted({c.name for c in CASES} - registered)
    assert not stale, f"access cases for routes that no longer exist: {stale}"


# ------------------------------------------------------------------ scoped tokens


def _area(url: str) -> str:
    from django.urls import resolve

    from odcm.api.permissions import AREA_OF_PACKAGE

    view = resolve(url).func
    cls = getattr(view, "cls", None) or getattr(view, "view_class", None)
    package = (cls or view).__module__.split(".", 1)[0]
    return AREA_OF_PACKAGE.get(package, package)


READ_CASES = [c for c in CASES if c.read and not c.expect]


@pytest.mark.django_db
@pytest.mark.parametrize("case", READ_CASES, ids=[c.id for c in READ_CASES])
def test_token_limited_to_its_area_reads_and_to_another_area_is_refused(case: Case) -> None:
    world = build_world()
    persona = next(p for p in (ADMIN, MANAGER, VIEWER, OUTSIDER) if p in case.read)
    url, _ = _url(case, world)
    area = _area(url)
    own = _client(world, persona, areas=[area]).get(url)
    assert own.status_code == 200, own.content
    elsewhere = "audit" if area != "audit" else "reports"
    refused = _client(world, persona, areas=[elsewhere]).get(url)
    assert refused.status_code == 403, refused.content
    assert f"not allowed in the {area} area" in refused.json()["detail"]


LIMITED_CASES = [c for c in READ_CASES if c.obj in ("space", "space_id", "instance", "instance_id")]


@pytest.mark.django_db
@pytest.mark.parametrize("case", LIMITED_CASES, ids=[c.id for c in LIMITED_CASES])
def test_token_limited_to_another_instance_or_space_does_not_see_this_one(case: Case) -> None:
    world = build_world()
    elsewhere = Instance(name="Else", slug="else", base_url="http://127.0.0.1:9/else")
    seal(elsewhere, "api_key", "API-ELSEELSEELSEELSEELSEELSE00")
    elsewhere.save()
    other = Space.objects.create(instance=elsewhere, octopus_id="Spaces-1", name="E", slug="e")
    persona = next(p for p in (ADMIN, MANAGER, VIEWER) if p in case.read)
    url, _ = _url(case, world)
    assert _client(world, persona, spaces=[world.space]).get(url).status_code == 200
    hidden = _client(world, persona, spaces=[other], instances=[elsewhere]).get(url)
    assert hidden.status_code in (403, 404), hidden.content


@pytest.mark.django_db
def test_space_list_of_a_token_limited_to_one_space_holds_only_that_space() -> None:
    world = build_world()
    client = _client(world, ADMIN, spaces=[world.other])
    ids = _ids(client.get(reverse("api:space-list")).json())
    assert ids == {str(world.other.pk)}


@pytest.mark.django_db
def test_new_tokens_expire_no_later_than_the_configured_maximum(settings: Any) -> None:
    settings.ODCM_TOKEN_MAX_DAYS = 30
    world = build_world()
    client = _client(world, VIEWER)
    made = client.post(reverse("api:token-list"), {"name": "t"}, format="json")
    assert made.status_code == 201 and made.json()["expires_at"]
    too_long = client.post(
        reverse("api:token-list"), {"name": "t", "expires_days": 31}, format="json"
    )
    assert too_long.status_code == 400
    assert "at most 30 days" in too_long.content.decode()


@pytest.mark.django_db
def test_token_records_when_and_from_where_it_was_last_used() -> None:
    from identity.models import ApiToken

    world = build_world()
    token, plaintext = create_token(world.users[VIEWER], name="ci")
    APIClient().get(
        reverse("api:me"), HTTP_AUTHORIZATION=f"Bearer {plaintext}", REMOTE_ADDR="10.1.2.3"
    )
    token = ApiToken.objects.get(pk=token.pk)
    assert token.last_used_at is not None and token.last_used_ip == "10.1.2.3"


@pytest.mark.django_db
def test_service_account_token_acts_as_the_account_not_as_its_maker() -> None:
    world = build_world()
    account = _service_account(world)
    # The account sees nothing until a group it is in has a grant.
    maker = _client(world, VIEWER)
    made = maker.post(
        reverse("api:service-account-tokens", kwargs={"pk": account.pk}),
        {"name": "ci", "areas": ["registry"], "read_only": True},
        format="json",
    )
    assert made.status_code == 201, made.content
    bot = APIClient()
    bot.credentials(HTTP_AUTHORIZATION=f"Bearer {made.json()['token']}")
    assert bot.get(reverse("api:me")).status_code == 403  # "access" is not its area
    assert _ids(bot.get(reverse("api:space-list")).json()) == set()
    services.update_group(world.viewers, members=[world.users[VIEWER], account.user])
    assert _ids(bot.get(reverse("api:space-list")).json()) == {str(world.space.pk)}
    # A service account has no password: it cannot sign in to the web pages.
    assert not account.user.has_usable_password()
