"""Building a release bundle at the source: read the release and its frozen snapshots through
``octopus/``, hash the packages (streamed, never held in memory), encrypt the values ODCM holds
for the target's environments to the target's certificate, sign with the source's key."""

from __future__ import annotations

import io
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any, BinaryIO, cast

from django.conf import settings
from django.db import transaction

from audit.services import record
from octopus import OctopusClient
from octopus.errors import OctopusError
from odcm.clients import client_for
from spaces.models import Space

from .. import formats, pki
from ..errors import PromotionError
from ..models import Promotion, RemoteSpace, Route, RouteStage
from . import identities, peers, routes

SCHEMA = 1
# Schema versions this ODCM imports. A newer exporter bumps SCHEMA only for changes an older
# importer would misread; additive fields keep the version.
SCHEMA_MIN, SCHEMA_MAX = 1, 1


def _step_packages(process: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """(action name, package reference name) -> the package reference of the process."""
    out = {}
    for step in process.get("Steps") or []:
        for action in step.get("Actions") or []:
            for ref in action.get("Packages") or []:
                out[(str(action.get("Name")), str(ref.get("Name") or ""))] = ref
    return out


class Discard(io.RawIOBase):
    """A destination that keeps nothing; "seekable" so that a download can start again."""

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        return len(data)

    def seek(self, offset: int, whence: int = 0) -> int:
        return 0

    def tell(self) -> int:
        return 0

    def truncate(self, size: int | None = None) -> int:
        return 0


def package_manifest(
    client: OctopusClient, space_id: str, release: dict[str, Any], process: dict[str, Any]
) -> list[dict[str, Any]]:
    """One entry per distinct package of the release: id, version, feed, Octopus's SHA-1,
    SHA-256 computed by ODCM while streaming the bytes (kept nowhere), and size."""
    refs = _step_packages(process)
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for chosen in release.get("SelectedPackages") or []:
        key = (str(chosen.get("ActionName") or ""), str(chosen.get("PackageReferenceName") or ""))
        ref = refs.get(key)
        if ref is None:
            continue
        package_id, version = str(ref["PackageId"]), str(chosen["Version"])
        feed = str(ref.get("FeedId") or "feeds-builtin")
        if (package_id, version) not in seen:
            seen[(package_id, version)] = {"id": package_id, "version": version, "feed": feed}
    entries = list(seen.values())
    builtin = [e for e in entries if e["feed"] == "feeds-builtin"]
    # Two packages at a time: hashing releases the GIL, so a second core halves the wait;
    # each download streams (a chunk in memory per thread, nothing on disk).
    with ThreadPoolExecutor(max_workers=HASHING_THREADS) as pool:
        for entry, digests in zip(
            builtin, pool.map(lambda e: _digests(client, space_id, e), builtin), strict=True
        ):
            entry.update(digests)
    return entries


HASHING_THREADS = 2


def _digests(client: OctopusClient, space_id: str, entry: dict[str, Any]) -> dict[str, Any]:
    doc = client.package(space_id, f"packages-{entry['id']}.{entry['version']}")
    # Only the digests are wanted: the bytes are hashed on the way and dropped (no
    # temporary file: a gigabyte of packages was a gigabyte written and deleted).
    got = client.download_package(
        space_id, str(doc["Id"]), cast(BinaryIO, Discard()), expected_sha1=doc.get("Hash")
    )
    return {
        "sha1": got.received.sha1,
        "sha256": got.received.sha256,
        "size": got.received.size,
        "file_extension": str(doc.get("FileExtension") or ".zip"),
    }


def earlier_deployments(
    client: OctopusClient, space_id: str, release_id: str, envs: dict[str, str]
) -> list[dict[str, Any]]:
    """The deployments of the release in the source's own environments, with their state."""
    found = []
    deployments = client.release_deployments(space_id, release_id)
    if not deployments:
        # A route whose first stage is a target space promotes a release never deployed
        # here (and the task reader refuses an empty list of ids).
        return []
    states = client.tasks_by_ids([str(d["TaskId"]) for d in deployments], space_id)
    for dep in deployments:
        status = states.get(str(dep["TaskId"]))
        found.append(
            {
                "environment": envs.get(dep["EnvironmentId"], dep["EnvironmentId"]),
                "task_id": dep["TaskId"],
                "state": status.state if status else "Unknown",
                "created": dep.get("Created"),
            }
        )
    return found


def succeeded_environments(earlier: list[dict[str, Any]]) -> set[str]:
    return {d["environment"] for d in earlier if d["state"] == "Success"}


def build(
    space: Space,
    route: Route,
    release_id: str,
    target: RemoteSpace,
    *,
    actor: Any = None,
    check_route: bool = True,
) -> Promotion:
    """Build and sign the bundle of ``release_id`` for ``target``. With ``check_route`` the
    route must allow it (every local environment before the target deployed successfully)."""
    stage = route.stages.filter(kind=RouteStage.Kind.SPACE, target=target).first()
    if stage is None:
        raise PromotionError(f"{target.name} is not a stage of the route of {route.project_name}.")
    identity = identities.ensure(space, actor=actor)
    key, cert = identities.signer(identity)
    target_cert = pki.load_certificate(peers.newest_certificate(target).certificate_pem)
    sid = space.octopus_id
    try:
        with client_for(space.instance) as client:
            release = client.release(sid, release_id)
            if release.get("ProjectId") != route.project_id:
                raise PromotionError("That release belongs to another project.")
            project = client.get(f"/api/{sid}/projects/{route.project_id}")
            snaps = client.release_snapshots(sid, release)
            channel = client.channel(sid, str(release["ChannelId"]))
            envs = {e["Id"]: e["Name"] for e in client.get_all(f"/api/{sid}/environments")}
            earlier = earlier_deployments(client, sid, release_id, envs)
            if check_route:
                _check_route(route, target, succeeded_environments(earlier))
            manifest = package_manifest(client, sid, release, snaps.deployment_process)
    except OctopusError as exc:
        raise PromotionError(f"Reading the release from Octopus failed: {exc}") from None
    values = []
    for environment, name, sensitive, value in routes.values_for(route, target):
        item: dict[str, Any] = {"environment": environment, "name": name, "sensitive": sensitive}
        if sensitive:
            item["sealed"] = formats.seal_for(target_cert, value)
        else:
            item["value"] = value
        values.append(item)
    bundle_id = uuid.uuid4()
    claims = {
        "iss": str(space.pk),
        "aud": pki.fingerprint(target_cert),
        "jti": str(bundle_id),
        "iat": int(time.time()),
        "schema": SCHEMA,
        "source": {
            "space": space.name,
            "space_id": str(space.pk),
            "odcm": getattr(settings, "ODCM_PROMOTIONS_PUBLIC_URL", ""),
            "promoted_by": getattr(actor, "username", "") or "",
        },
        # "lifecycle": the route's choice for the target (a name there; a suggestion the
        # importer may override). Additive: the schema version stays.
        "target": {"name": target.name, "id": target.remote_id, "lifecycle": stage.lifecycle},
        "project": {
            "id": project["Id"],
            "name": project["Name"],
            "description": project.get("Description") or "",
        },
        "release": {
            "id": release["Id"],
            "version": release["Version"],
            "notes": release.get("ReleaseNotes") or "",
            "channel": channel.get("Name") or "",
            "selected_packages": release.get("SelectedPackages") or [],
        },
        "process": snaps.deployment_process,
        "variables": {"project": snaps.project_variables, "library": snaps.library_variables},
        "templates": project.get("Templates") or [],
        "environments": envs,
        "packages": manifest,
        "remote_values": values,
        "earlier_deployments": earlier,
    }
    token = formats.sign(claims, key, cert, formats.BUNDLE_TYPE)
    with transaction.atomic():
        promotion = Promotion.objects.create(
            id=bundle_id,
            space=space,
            target=target,
            project_id=route.project_id,
            project_name=route.project_name,
            release_id=release_id,
            release_version=str(release["Version"]),
            token=token,
            created_by=actor if getattr(actor, "pk", None) else None,
        )
        record(
            "promotions.bundle.build",
            actor=actor,
            obj=promotion,
            after={"release": release["Version"], "target": target.name, "packages": len(manifest)},
        )
    return promotion


def _check_route(route: Route, target: RemoteSpace, deployed: set[str]) -> None:
    for stage in route.stages.all():
        if stage.kind == RouteStage.Kind.SPACE and stage.target_id == target.pk:
            return
        if stage.kind == RouteStage.Kind.ENVIRONMENT and stage.environment not in deployed:
            raise PromotionError(
                f"The route does not allow promoting to {target.name} yet: the release has "
                f"not been deployed successfully to {stage.environment}."
            )
