"""The demo's managed spaces: a management space with a blueprint and a template project
pushed to two managed spaces (docs/managed-spaces.md walks through it)."""

from __future__ import annotations

from typing import Any

from managed.models import Blueprint, InstanceBaseline, TemplateProject
from managed.services import baseline_broker, baselines, blueprints, broker, templates
from managed.services import octopus_side as side
from octopus.pipeline import sp
from odcm.clients import client_for
from spaces.models import Space

BLUEPRINT = {
    "environments": [
        {"name": "Development"},
        {"name": "Test"},
        {"name": "Production", "use_guided_failure": True},
    ],
    "lifecycles": [
        {
            "name": "Standard",
            "phases": [
                {"name": "Dev", "automatic": ["Development"]},
                {"name": "Test", "optional": ["Test"]},
                {"name": "Production", "optional": ["Production"]},
            ],
            "release_retention": {"unit": "Items", "quantity": 10},
        }
    ],
    "project_groups": [{"name": "Platform"}],
    "tag_sets": [{"name": "Tier", "tags": [{"name": "Gold"}, {"name": "Silver"}]}],
    "worker_pools": [{"name": "Linux workers"}],
}


# The fleet's baseline: the same mail server, sign-in and retention everywhere, and a
# webhook on failed deployments (octosim raises no events, so nothing is ever sent).
BASELINE = {
    "smtp": {"host": "smtp.example.com", "port": 587, "from": "octopus@example.com"},
    "authentication": {"username_password": True, "guest": False},
    "subscriptions": [
        {
            "name": "Failed deployments",
            "event_groups": ["DeploymentCriticalEvents"],
            "webhook_uri": "https://hooks.example.com/octopus",
        }
    ],
    "retention": {"days": 90},
}


def _step(name: str, script: str) -> dict[str, Any]:
    return {
        "Name": name,
        "Actions": [
            {
                "Name": name,
                "ActionType": "Octopus.Script",
                "Properties": {"Octopus.Action.Script.ScriptBody": script},
            }
        ],
    }


def _template_project(client: Any, space_id: str) -> None:
    """Web Service: two deployment steps, a Restart runbook, a variable per environment."""
    groups = {g["Name"]: g["Id"] for g in client.get_all(sp(space_id, "projectgroups"))}
    cycles = {lc["Name"]: lc["Id"] for lc in client.get_all(sp(space_id, "lifecycles"))}
    project = client.post(
        sp(space_id, "projects"),
        {
            "Name": "Web Service",
            "ProjectGroupId": groups["Platform"],
            "LifecycleId": cycles["Standard"],
        },
    )
    process = client.get(sp(space_id, "deploymentprocesses", project["DeploymentProcessId"]))
    process["Steps"] = [_step("Migrate database", "./migrate.sh"), _step("Deploy", "./deploy.sh")]
    client.put(sp(space_id, "deploymentprocesses", process["Id"]), process)
    runbook = client.post(sp(space_id, "runbooks"), {"Name": "Restart", "ProjectId": project["Id"]})
    rb_process = client.get(sp(space_id, "runbookProcesses", runbook["RunbookProcessId"]))
    rb_process["Steps"] = [_step("Restart service", "systemctl restart web")]
    client.put(sp(space_id, "runbookProcesses", rb_process["Id"]), rb_process)
    variables = client.get(sp(space_id, "variables", project["VariableSetId"]))
    variables["Variables"] = [{"Name": "App.Url", "Value": "https://web.example", "Scope": {}}]
    client.put(sp(space_id, "variables", variables["Id"]), variables)


def _ignore(kind: str, name: str, ident: str | None) -> None:
    """The management space's items are not tracked for prune."""


def set_up(actor: Any = None) -> str:
    """Idempotent: what exists already is left as it is. Returns a line for the console."""
    spaces = list(
        Space.objects.filter(state=Space.State.ENLISTED)
        .select_related("instance")
        .order_by("instance__name", "octopus_id")[:3]
    )
    if len(spaces) < 3:
        return "managed demo: needs three enlisted spaces; skipped"
    management, managed = spaces[0], spaces[1:]
    blueprint = Blueprint.objects.filter(name="Standard space").first()
    if blueprint is None:
        blueprint = blueprints.create_blueprint(
            "Standard space", BLUEPRINT, management_space=management, actor=actor,
            description="Environments, a lifecycle, a project group, tiers and a worker pool.",
        )  # fmt: skip
        blueprints.assign(blueprint, managed, actor=actor)
        broker.queue_apply(blueprint, actor=actor)
        # Applied here rather than by the worker: the template's pushes, queued next, need
        # the blueprint's lifecycle and project group in the managed spaces first.
        for target in blueprint.targets.all():
            broker.apply_target(str(target.pk))
        # The management space gets the same content directly (the template project is
        # built on its lifecycle and group; a blueprint never targets its own space).
        content = blueprint.revisions.get().content
        with client_for(management.instance) as client:
            view = side.read_space(client, management.octopus_id)
            actions = side.plan(content, view, {}, {})
            side.write(client, management.octopus_id, content, view, actions, {}, _ignore)
    if not TemplateProject.objects.exists():
        with client_for(management.instance) as client:
            names = [p["Name"] for p in client.get_all(sp(management.octopus_id, "projects"))]
            if "Web Service" not in names:
                _template_project(client, management.octopus_id)
        template = templates.mark_template(management, "Web Service", actor=actor)
        for n, space in enumerate(managed):
            templates.add_downstream(
                template, space, actor=actor,
                overrides={"variables": {"App.Url": f"https://web-{n + 1}.example"}},
            )  # fmt: skip
        templates.queue_push(template, actor=actor)
    if not InstanceBaseline.objects.exists():
        baseline = baselines.create_baseline(
            "Fleet baseline", BASELINE, actor=actor,
            description="Mail, sign-in, a failed-deployment webhook and retention everywhere.",
        )  # fmt: skip
        baselines.set_rules(baseline, all_instances=True, actor=actor)
        baseline_broker.queue_apply(baseline, actor=actor)  # the worker applies it
    return (
        f"managed demo: blueprint 'Standard space' and template 'Web Service' in "
        f"{management.name}, pushed to {', '.join(s.name for s in managed)}; "
        f"instance baseline 'Fleet baseline' on every instance"
    )
