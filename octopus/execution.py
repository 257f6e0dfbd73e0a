"""Sans-IO flows for what runs: deployments and runbook runs through the executions API,
task logs and cancelling, interruptions (manual interventions, guided failures)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import _responses as responses
from ._core import ClientCore, Flow
from .errors import UnexpectedResponse
from .pipeline import Doc, as_doc, collect, executions_api, seg, send_doc, sp


@dataclass(frozen=True)
class ExecutionTask:
    """One deployment or runbook run the executions API started, and its server task."""

    id: str  # Deployments-N or RunbookRuns-N
    task_id: str


@dataclass(frozen=True)
class ExecutionOptions:
    """What the executions API's deployment and runbook-run commands share."""

    skip_steps: Sequence[str] = ()
    specific_machines: Sequence[str] = ()
    excluded_machines: Sequence[str] = ()
    force_package_download: bool = False
    use_guided_failure: bool = False
    variables: Mapping[str, str] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        return {
            "SkipStepNames": list(self.skip_steps),
            "SpecificMachineNames": list(self.specific_machines),
            "ExcludedMachineNames": list(self.excluded_machines),
            "ForcePackageDownload": self.force_package_download,
            "UseGuidedFailure": self.use_guided_failure,
            "Variables": dict(self.variables),
        }


def _execution(
    core: ClientCore, space: str, tail: tuple[str, ...], body: Doc, key: str, id_field: str
) -> Flow[list[ExecutionTask]]:
    call = core.call("POST", sp(space, *tail), json=body)
    raw = yield from executions_api(core, call)
    answer = as_doc(responses.decode_json(raw, call.where), call.where)
    items = answer.get(key)
    if not isinstance(items, list):
        raise UnexpectedResponse(
            f"{call.where.label} on the Octopus server at {core.base_url} did not return {key}.",
            **call.where.ctx(raw.status_code),
        )
    return [ExecutionTask(str(i.get(id_field)), str(i.get("ServerTaskId"))) for i in items]


def deploy_release_v1(
    core: ClientCore,
    space: str,
    project: str,
    release_version: str,
    environments: Sequence[str],
    *,
    options: ExecutionOptions | None = None,
    force_package_redeployment: bool = False,
    update_variable_snapshot: bool = False,
) -> Flow[list[ExecutionTask]]:
    """``deployments/create/untenanted/v1``: one deployment per environment *name*."""
    body = {
        "SpaceIdOrName": space,
        "ProjectName": project,
        "ReleaseVersion": release_version,
        "EnvironmentNames": list(environments),
        "ForcePackageRedeployment": force_package_redeployment,
        "UpdateVariableSnapshot": update_variable_snapshot,
        **(options or ExecutionOptions()).body(),
    }
    tail = ("deployments", "create", "untenanted", "v1")
    return _execution(core, space, tail, body, "DeploymentServerTasks", "DeploymentId")


def deploy_release_tenanted_v1(
    core: ClientCore,
    space: str,
    project: str,
    release_version: str,
    environment: str,
    *,
    tenants: Sequence[str] = (),
    tenant_tags: Sequence[str] = (),
    options: ExecutionOptions | None = None,
    force_package_redeployment: bool = False,
    update_variable_snapshot: bool = False,
) -> Flow[list[ExecutionTask]]:
    """``deployments/create/tenanted/v1``: one deployment per tenant (names or tags)."""
    body = {
        "SpaceIdOrName": space,
        "ProjectName": project,
        "ReleaseVersion": release_version,
        "EnvironmentName": environment,
        "Tenants": list(tenants),
        "TenantTags": list(tenant_tags),
        "ForcePackageRedeployment": force_package_redeployment,
        "UpdateVariableSnapshot": update_variable_snapshot,
        **(options or ExecutionOptions()).body(),
    }
    tail = ("deployments", "create", "tenanted", "v1")
    return _execution(core, space, tail, body, "DeploymentServerTasks", "DeploymentId")


def run_runbook_v1(
    core: ClientCore,
    space: str,
    project: str,
    runbook: str,
    environments: Sequence[str],
    *,
    snapshot: str | None = None,
    tenants: Sequence[str] = (),
    tenant_tags: Sequence[str] = (),
    options: ExecutionOptions | None = None,
) -> Flow[list[ExecutionTask]]:
    """``runbook-runs/create/v1``: runs the published snapshot unless ``snapshot`` names one."""
    body: Doc = {
        "SpaceIdOrName": space,
        "ProjectName": project,
        "RunbookName": runbook,
        "EnvironmentNames": list(environments),
        "Tenants": list(tenants),
        "TenantTags": list(tenant_tags),
        **(options or ExecutionOptions()).body(),
    }
    if snapshot:
        body["Snapshot"] = snapshot
    tail = ("runbook-runs", "create", "v1")
    return _execution(core, space, tail, body, "RunbookRunServerTasks", "RunbookRunId")


def create_runbook_snapshot(
    core: ClientCore,
    space: str,
    project_id: str,
    runbook_id: str,
    *,
    name: str | None = None,
    notes: str | None = None,
    publish: bool = True,
    selected_packages: Sequence[Mapping[str, Any]] = (),
) -> Flow[Doc]:
    """Snapshot a runbook's process and variables (and publish it, as the portal does)."""
    body: Doc = {
        "ProjectId": project_id,
        "RunbookId": runbook_id,
        "Notes": notes,
        "SelectedPackages": [dict(p) for p in selected_packages],
    }
    if name:
        body["Name"] = name
    path = sp(space, "projects", project_id, "runbookSnapshots")
    return send_doc(core, "POST", path, body, params={"publish": publish})


# -- tasks ------------------------------------------------------------------------------


def task_path(task_id: str, space: str | None, *tail: str) -> str:
    if space:
        return sp(space, "tasks", task_id, *tail)
    return "/api/tasks/" + "/".join([seg(task_id), *(seg(t) for t in tail)])


def task_raw(core: ClientCore, task_id: str, space: str | None = None) -> Flow[str]:
    """The task's plain-text log."""
    call = core.call("GET", task_path(task_id, space, "raw"))
    raw = yield from core.plan(call)
    charset = raw.headers.get("content-type", "").partition("charset=")[2].strip() or "utf-8"
    try:
        return raw.content.decode(charset, errors="replace")
    except LookupError:
        return raw.content.decode("utf-8", errors="replace")


# -- interruptions ------------------------------------------------------------------------


def interruptions(
    core: ClientCore, space: str, *, pending_only: bool = True, regarding: str | None = None
) -> Flow[list[Doc]]:
    """Interruptions of a space; ``regarding`` a task id, a deployment id, ..."""
    params = {"pendingOnly": pending_only, "regarding": regarding}
    return collect(core, sp(space, "interruptions"), params)


def submit_interruption(
    core: ClientCore,
    space: str,
    interruption_id: str,
    values: Mapping[str, Any],
) -> Flow[Doc]:
    """Answer an interruption with its form values: a manual intervention takes
    ``{"Result": "Proceed"|"Abort", "Notes": ...}``, a guided failure
    ``{"Guidance": "Retry"|"Ignore"|"Fail"|..., "Notes": ...}``. Take responsibility first."""
    path = sp(space, "interruptions", interruption_id, "submit")
    return send_doc(core, "POST", path, dict(values))
