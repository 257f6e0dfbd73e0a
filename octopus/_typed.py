"""Typed release-pipeline calls of :class:`octopus.OctopusClient`.

Every method runs a sans-IO flow from ``pipeline.py``, ``execution.py`` or ``tasks.py``
with the client's ``_run``. ``_atyped.py`` is the same list for the async client, method
for method (a test compares the two). ``space`` is a space id (``Spaces-1``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, BinaryIO, TypeVar

from . import execution as ex
from . import pipeline as pl
from ._core import ClientCore, Flow
from .execution import ExecutionOptions, ExecutionTask
from .packages import Destination, MultipartUpload, PackageDownload, PackageUpload
from .pipeline import Doc, ReleaseCreated, ReleaseSnapshots, sp
from .tasks import PollPolicy, TaskStatus, TaskWaiter

T = TypeVar("T")


class PipelineCalls:
    """Packages, processes, variables, channels, lifecycles, releases, deployments,
    tasks, interruptions, runbooks and server nodes."""

    _core: ClientCore

    def _run(self, plan: Flow[T]) -> T:
        raise NotImplementedError

    # -- packages ----------------------------------------------------------------------

    def upload_package(
        self,
        space: str,
        source: str | os.PathLike[str] | BinaryIO | MultipartUpload,
        *,
        file_name: str | None = None,
        overwrite_mode: str = "FailIfExists",
    ) -> PackageUpload:
        """Stream a package file to the built-in feed (SHA-1 and SHA-256 on the way)."""
        flow = pl.upload_package(
            self._core, space, source, file_name=file_name, overwrite_mode=overwrite_mode
        )
        return self._run(flow)

    def download_package(
        self,
        space: str,
        package_id: str,
        destination: Destination,
        *,
        expected_sha1: str | None = None,
    ) -> PackageDownload:
        """Stream a package's bytes to a path or binary file, hashing them."""
        flow = pl.download_package(
            self._core, space, package_id, destination, expected_sha1=expected_sha1
        )
        return self._run(flow)

    def packages(self, space: str, *, filter: str | None = None, latest: bool = False) -> list[Doc]:
        return self._run(pl.packages(self._core, space, filter=filter, latest=latest))

    def package(self, space: str, package_id: str) -> Doc:
        return self._run(pl.get_doc(self._core, sp(space, "packages", package_id)))

    def delete_package(self, space: str, package_id: str) -> None:
        return self._run(pl.delete(self._core, sp(space, "packages", package_id)))

    def package_versions(
        self, space: str, package_id: str, *, feed_id: str = "feeds-builtin", take: int = 100
    ) -> list[Doc]:
        return self._run(pl.package_versions(self._core, space, feed_id, package_id, take=take))

    # -- deployment processes and variables --------------------------------------------

    def deployment_process(self, space: str, process_id: str) -> Doc:
        """A live process (``deploymentprocess-Projects-1``) or a release's snapshot."""
        return self._run(pl.get_doc(self._core, sp(space, "deploymentprocesses", process_id)))

    def project_deployment_process(self, space: str, project_id: str) -> Doc:
        path = sp(space, "projects", project_id, "deploymentprocesses")
        return self._run(pl.get_doc(self._core, path))

    def update_deployment_process(self, space: str, process: Mapping[str, Any]) -> Doc:
        """PUT the whole process with the ``Version`` read; a stale one is VersionConflict."""
        return self._run(pl.save(self._core, space, "deploymentprocesses", process))

    def variable_set(self, space: str, variable_set_id: str) -> Doc:
        return self._run(pl.get_doc(self._core, sp(space, "variables", variable_set_id)))

    def update_variable_set(self, space: str, variable_set: Mapping[str, Any]) -> Doc:
        return self._run(pl.save(self._core, space, "variables", variable_set))

    def tenant_variables(self, space: str, tenant_id: str) -> Doc:
        return self._run(pl.get_doc(self._core, sp(space, "tenants", tenant_id, "variables")))

    def update_tenant_variables(self, space: str, variables: Mapping[str, Any]) -> Doc:
        path = sp(space, "tenants", str(variables.get("TenantId") or ""), "variables")
        return self._run(pl.send_doc(self._core, "PUT", path, dict(variables)))

    # -- channels and lifecycles -------------------------------------------------------

    def channels(self, space: str, project_id: str | None = None) -> list[Doc]:
        path = (
            sp(space, "projects", project_id, "channels") if project_id else sp(space, "channels")
        )
        return self._run(pl.collect(self._core, path))

    def channel(self, space: str, channel_id: str) -> Doc:
        return self._run(pl.get_doc(self._core, sp(space, "channels", channel_id)))

    def create_channel(self, space: str, channel: Mapping[str, Any]) -> Doc:
        return self._run(pl.send_doc(self._core, "POST", sp(space, "channels"), dict(channel)))

    def update_channel(self, space: str, channel: Mapping[str, Any]) -> Doc:
        return self._run(pl.save(self._core, space, "channels", channel))

    def delete_channel(self, space: str, channel_id: str) -> None:
        return self._run(pl.delete(self._core, sp(space, "channels", channel_id)))

    def lifecycles(self, space: str) -> list[Doc]:
        return self._run(pl.collect(self._core, sp(space, "lifecycles")))

    def lifecycle(self, space: str, lifecycle_id: str) -> Doc:
        return self._run(pl.get_doc(self._core, sp(space, "lifecycles", lifecycle_id)))

    def create_lifecycle(self, space: str, lifecycle: Mapping[str, Any]) -> Doc:
        path = sp(space, "lifecycles")
        return self._run(pl.send_doc(self._core, "POST", path, dict(lifecycle)))

    def update_lifecycle(self, space: str, lifecycle: Mapping[str, Any]) -> Doc:
        return self._run(pl.save(self._core, space, "lifecycles", lifecycle))

    def delete_lifecycle(self, space: str, lifecycle_id: str) -> None:
        return self._run(pl.delete(self._core, sp(space, "lifecycles", lifecycle_id)))

    # -- releases ------------------------------------------------------------------------

    def release(self, space: str, release_id: str) -> Doc:
        return self._run(pl.get_doc(self._core, sp(space, "releases", release_id)))

    def project_releases(
        self, space: str, project_id: str, *, search_by_version: str | None = None
    ) -> list[Doc]:
        flow = pl.project_releases(
            self._core, space, project_id, search_by_version=search_by_version
        )
        return self._run(flow)

    def create_release(self, space: str, release: Mapping[str, Any]) -> Doc:
        """Classic ``POST releases`` (ProjectId, ChannelId, Version, SelectedPackages)."""
        return self._run(pl.send_doc(self._core, "POST", sp(space, "releases"), dict(release)))

    def create_release_v1(
        self,
        space: str,
        project: str,
        *,
        channel: str | None = None,
        version: str | None = None,
        package_version: str | None = None,
        packages: Sequence[str] = (),
        release_notes: str | None = None,
        ignore_if_exists: bool = False,
        ignore_channel_rules: bool = False,
    ) -> ReleaseCreated:
        """The executions API (``releases/create/v1``), by project and channel name."""
        flow = pl.create_release_v1(
            self._core, space, project, channel=channel, version=version,
            package_version=package_version, packages=packages, release_notes=release_notes,
            ignore_if_exists=ignore_if_exists, ignore_channel_rules=ignore_channel_rules,
        )  # fmt: skip
        return self._run(flow)

    def release_deployments(self, space: str, release_id: str) -> list[Doc]:
        path = sp(space, "releases", release_id, "deployments")
        return self._run(pl.collect(self._core, path))

    def release_progression(self, space: str, release_id: str) -> Doc:
        return self._run(pl.get_doc(self._core, sp(space, "releases", release_id, "progression")))

    def snapshot_release_variables(self, space: str, release_id: str) -> Doc:
        """Re-snapshot the variables of a release (``snapshot-variables``)."""
        path = sp(space, "releases", release_id, "snapshot-variables")
        return self._run(pl.send_doc(self._core, "POST", path, None))

    def release_snapshots(self, space: str, release: Mapping[str, Any]) -> ReleaseSnapshots:
        return self._run(pl.release_snapshots(self._core, space, release))

    def delete_release(self, space: str, release_id: str) -> None:
        return self._run(pl.delete(self._core, sp(space, "releases", release_id)))

    # -- deployments ---------------------------------------------------------------------

    def deployment(self, space: str, deployment_id: str) -> Doc:
        return self._run(pl.get_doc(self._core, sp(space, "deployments", deployment_id)))

    def create_deployment(self, space: str, deployment: Mapping[str, Any]) -> Doc:
        """Classic ``POST deployments`` (ReleaseId, EnvironmentId, TenantId, SkipActions)."""
        path = sp(space, "deployments")
        return self._run(pl.send_doc(self._core, "POST", path, dict(deployment)))

    def deploy_release_v1(
        self,
        space: str,
        project: str,
        release_version: str,
        environments: Sequence[str],
        *,
        options: ExecutionOptions | None = None,
        force_package_redeployment: bool = False,
        update_variable_snapshot: bool = False,
    ) -> list[ExecutionTask]:
        flow = ex.deploy_release_v1(
            self._core, space, project, release_version, environments, options=options,
            force_package_redeployment=force_package_redeployment,
            update_variable_snapshot=update_variable_snapshot,
        )  # fmt: skip
        return self._run(flow)

    def deploy_release_tenanted_v1(
        self,
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
    ) -> list[ExecutionTask]:
        flow = ex.deploy_release_tenanted_v1(
            self._core, space, project, release_version, environment, tenants=tenants,
            tenant_tags=tenant_tags, options=options,
            force_package_redeployment=force_package_redeployment,
            update_variable_snapshot=update_variable_snapshot,
        )  # fmt: skip
        return self._run(flow)

    # -- tasks ---------------------------------------------------------------------------

    def task(self, task_id: str, space: str | None = None) -> TaskStatus:
        return TaskStatus.from_resource(
            self._run(pl.get_doc(self._core, ex.task_path(task_id, space)))
        )

    def task_details(self, task_id: str, space: str | None = None) -> Doc:
        return self._run(pl.get_doc(self._core, ex.task_path(task_id, space, "details")))

    def task_raw(self, task_id: str, space: str | None = None) -> str:
        return self._run(ex.task_raw(self._core, task_id, space))

    def cancel_task(self, task_id: str, space: str | None = None) -> TaskStatus:
        path = ex.task_path(task_id, space, "cancel")
        return TaskStatus.from_resource(self._run(pl.send_doc(self._core, "POST", path, None)))

    def tasks_by_ids(self, ids: Iterable[str], space: str | None = None) -> dict[str, TaskStatus]:
        """Where each task stands now (one request per 100 ids)."""
        waiter = TaskWaiter(self._core, ids, space=space)
        self._run(waiter.poll_once())
        return {i: waiter.latest[i] for i in waiter.ids}

    def wait_for_tasks(
        self,
        ids: Iterable[str],
        space: str | None = None,
        *,
        policy: PollPolicy | None = None,
        until_interrupted: bool = False,
    ) -> dict[str, TaskStatus]:
        """Poll until every task is complete (or, with ``until_interrupted``, waits on an
        interruption); raises TaskWaitTimedOut after ``policy.timeout``."""
        waiter = TaskWaiter(
            self._core, ids, space=space, policy=policy, until_interrupted=until_interrupted
        )
        return self._run(waiter.flow())

    # -- interruptions -------------------------------------------------------------------

    def interruptions(
        self, space: str, *, pending_only: bool = True, regarding: str | None = None
    ) -> list[Doc]:
        flow = ex.interruptions(self._core, space, pending_only=pending_only, regarding=regarding)
        return self._run(flow)

    def interruption(self, space: str, interruption_id: str) -> Doc:
        return self._run(pl.get_doc(self._core, sp(space, "interruptions", interruption_id)))

    def take_responsibility(self, space: str, interruption_id: str) -> Any:
        path = sp(space, "interruptions", interruption_id, "responsible")
        return self._run(pl.send_json(self._core, "PUT", path))

    def submit_interruption(
        self, space: str, interruption_id: str, values: Mapping[str, Any]
    ) -> Doc:
        return self._run(ex.submit_interruption(self._core, space, interruption_id, values))

    # -- runbooks ------------------------------------------------------------------------

    def runbooks(self, space: str, project_id: str) -> list[Doc]:
        return self._run(pl.collect(self._core, sp(space, "projects", project_id, "runbooks")))

    def runbook(self, space: str, runbook_id: str) -> Doc:
        return self._run(pl.get_doc(self._core, sp(space, "runbooks", runbook_id)))

    def create_runbook(self, space: str, runbook: Mapping[str, Any]) -> Doc:
        return self._run(pl.send_doc(self._core, "POST", sp(space, "runbooks"), dict(runbook)))

    def update_runbook(self, space: str, runbook: Mapping[str, Any]) -> Doc:
        return self._run(pl.save(self._core, space, "runbooks", runbook))

    def delete_runbook(self, space: str, runbook_id: str) -> None:
        return self._run(pl.delete(self._core, sp(space, "runbooks", runbook_id)))

    def runbook_process(self, space: str, process_id: str) -> Doc:
        return self._run(pl.get_doc(self._core, sp(space, "runbookProcesses", process_id)))

    def update_runbook_process(self, space: str, process: Mapping[str, Any]) -> Doc:
        return self._run(pl.save(self._core, space, "runbookProcesses", process))

    def create_runbook_snapshot(
        self,
        space: str,
        project_id: str,
        runbook_id: str,
        *,
        name: str | None = None,
        notes: str | None = None,
        publish: bool = True,
        selected_packages: Sequence[Mapping[str, Any]] = (),
    ) -> Doc:
        flow = ex.create_runbook_snapshot(
            self._core, space, project_id, runbook_id, name=name, notes=notes,
            publish=publish, selected_packages=selected_packages,
        )  # fmt: skip
        return self._run(flow)

    def runbook_snapshot(self, space: str, snapshot_id: str) -> Doc:
        return self._run(pl.get_doc(self._core, sp(space, "runbookSnapshots", snapshot_id)))

    def run_runbook(self, space: str, run: Mapping[str, Any]) -> Doc:
        """Classic ``POST runbookRuns`` (RunbookId, RunbookSnapshotId, EnvironmentId)."""
        return self._run(pl.send_doc(self._core, "POST", sp(space, "runbookRuns"), dict(run)))

    def run_runbook_v1(
        self,
        space: str,
        project: str,
        runbook: str,
        environments: Sequence[str],
        *,
        snapshot: str | None = None,
        tenants: Sequence[str] = (),
        tenant_tags: Sequence[str] = (),
        options: ExecutionOptions | None = None,
    ) -> list[ExecutionTask]:
        flow = ex.run_runbook_v1(
            self._core, space, project, runbook, environments, snapshot=snapshot,
            tenants=tenants, tenant_tags=tenant_tags, options=options,
        )  # fmt: skip
        return self._run(flow)

    def runbook_run(self, space: str, run_id: str) -> Doc:
        return self._run(pl.get_doc(self._core, sp(space, "runbookRuns", run_id)))

    # -- server nodes --------------------------------------------------------------------

    def server_nodes(self) -> list[Doc]:
        return self._run(pl.collect(self._core, "/api/octopusservernodes"))

    def server_node_details(self, node_id: str) -> Doc:
        """A node and how many tasks it is running (``RunningTasks``)."""
        path = "/api/octopusservernodes/" + pl.seg(node_id) + "/details"
        return self._run(pl.get_doc(self._core, path))

    def server_nodes_summary(self) -> Doc:
        """Every node with its ``RunningTaskCount``, and the queue's totals."""
        return self._run(pl.get_doc(self._core, "/api/octopusservernodes/summary"))
