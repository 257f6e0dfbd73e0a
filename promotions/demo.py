"""The demo's promotion setup: spaces "DevTest" and "Prod" (created on the first two
instances when missing), a project "Web" in DevTest with a package step, release 1.0.0
deployed to Development and Test, a route Development → Test → Prod, the trusts both ways
(a local trust: same ODCM, no exchange), and a value ODCM holds for "Prod: Production".
Idempotent: a second run changes nothing."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from octopus import OctopusClient, PollPolicy
from odcm.clients import client_for
from spaces.models import Instance, Space
from spaces.services.octopus_spaces import create_space

from .models import Route, Trust
from .services import peers, routes

PROJECT = "Web"
PACKAGE = "Acme.Web"
ENVIRONMENTS = ("Development", "Test", "Production")


def _space(instance: Instance, name: str, actor: Any) -> Space:
    found = Space.objects.filter(instance=instance, name=name).first()
    if found is not None:
        return found
    return create_space(instance, name=name, actor=actor).space


def _envs(c: OctopusClient, sid: str) -> dict[str, str]:
    have = {e["Name"]: e["Id"] for e in c.get_all(f"/api/{sid}/environments")}
    for name in ENVIRONMENTS:
        if name not in have:
            have[name] = c.post(f"/api/{sid}/environments", {"Name": name})["Id"]
    return have


def _lifecycle(c: OctopusClient, sid: str, name: str, envs: list[str]) -> str:
    for lc in c.lifecycles(sid):
        if lc["Name"] == name:
            return str(lc["Id"])
    phases = [
        {
            "Name": f"Phase {i}",
            "OptionalDeploymentTargets": [e],
            "AutomaticDeploymentTargets": [],
            "MinimumEnvironmentsBeforePromotion": 0,
            "IsOptionalPhase": False,
        }
        for i, e in enumerate(envs, 1)
    ]
    return str(c.create_lifecycle(sid, {"Name": name, "Phases": phases})["Id"])


def _group(c: OctopusClient, sid: str) -> str:
    groups = c.get(f"/api/{sid}/projectgroups/all")
    if groups:
        return str(groups[0]["Id"])
    return str(c.post(f"/api/{sid}/projectgroups", {"Name": "Default Project Group"})["Id"])


def setup(actor: Any = None) -> str:
    instances = list(Instance.objects.order_by("created_at")[:2])
    if not instances:
        return "promotions demo: no instance enlisted; skipped"
    devtest = _space(instances[0], "DevTest", actor)
    prod = _space(instances[-1], "Prod", actor)
    sid = devtest.octopus_id
    with client_for(devtest.instance) as c:
        envs = _envs(c, sid)
        lifecycle = _lifecycle(c, sid, "DevTest", [envs["Development"], envs["Test"]])
        project = next((p for p in c.get_all(f"/api/{sid}/projects") if p["Name"] == PROJECT), None)
        if project is None:
            project = c.post(
                f"/api/{sid}/projects",
                {"Name": PROJECT, "ProjectGroupId": _group(c, sid), "LifecycleId": lifecycle},
            )
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / f"{PACKAGE}.1.0.0.zip"
                path.write_bytes(b"Acme web site 1.0.0\n" * 1000)
                c.upload_package(sid, path, overwrite_mode="IgnoreIfExists")
            process = c.project_deployment_process(sid, project["Id"])
            process["Steps"] = [
                {
                    "Name": "Deploy web",
                    "Properties": {"Octopus.Action.TargetRoles": "web"},
                    "Actions": [
                        {
                            "Name": "Deploy web",
                            "ActionType": "Octopus.TentaclePackage",
                            "Properties": {},
                            "Packages": [
                                {"Name": "", "PackageId": PACKAGE, "FeedId": "feeds-builtin"}
                            ],
                        }
                    ],
                },
                {
                    "Name": "Smoke test",
                    "Actions": [
                        {
                            "Name": "Smoke test",
                            "ActionType": "Octopus.Script",
                            "Properties": {"Octopus.Action.Script.ScriptBody": "echo ok"},
                        }
                    ],
                },
            ]
            c.update_deployment_process(sid, process)
            variables = c.variable_set(sid, project["VariableSetId"])
            variables["Variables"] = [
                {"Name": "Site.Url", "Value": "https://test.acme.example"},
                {
                    "Name": "Db.Password",
                    "Value": "demo-only",
                    "IsSensitive": True,
                    "Type": "Sensitive",
                },
            ]
            c.update_variable_set(sid, variables)
            c.create_release_v1(sid, PROJECT, version="1.0.0", packages=["Deploy web:1.0.0"])
            poll = PollPolicy(initial=0.2, factor=1.5, maximum=1, timeout=120)
            for env in ("Development", "Test"):
                started = c.deploy_release_v1(sid, PROJECT, "1.0.0", [env])
                c.wait_for_tasks([t.task_id for t in started], sid, policy=poll)
    with client_for(prod.instance) as c:
        prod_envs = _envs(c, prod.octopus_id)
        _lifecycle(c, prod.octopus_id, "Prod", [prod_envs["Production"]])
    prod_peer, devtest_peer = (
        peers.local_peer(prod, actor=actor),
        peers.local_peer(devtest, actor=actor),
    )
    for space, remote, accepts in (
        (prod, devtest_peer, Trust.Accepts.RELEASES),
        (devtest, prod_peer, Trust.Accepts.RECEIPTS),
    ):
        if not Trust.objects.filter(
            space=space, remote=remote, accepts=accepts, state=Trust.State.ACTIVE
        ).exists():
            peers.propose(space, remote, accepts, actor=actor)
    if not Route.objects.filter(space=devtest, project_id=project["Id"]).exists():
        route = routes.set_route(
            devtest, project["Id"], PROJECT, ["Development", "Test", prod_peer], actor=actor
        )
        routes.set_value(route, prod_peer, "Production", "Site.Url", "https://www.acme.example")
        routes.set_value(route, prod_peer, "Production", "Api.Key", "demo-prod-key", sensitive=True)
    return (
        f"promotions demo: DevTest ({devtest.instance.name}) promotes {PROJECT} to Prod "
        f"({prod.instance.name}); open /promotions/"
    )
