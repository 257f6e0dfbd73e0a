"""The remote project "<Source space>: <Project>" and its release in the target space: the
lifecycle it follows, the project (created or updated by name) and the release (found by
version before one is created), so a retried import writes nothing twice."""

from __future__ import annotations

from typing import Any

from octopus import OctopusClient

from ...errors import PromotionError
from ...models import InboundBundle


def remote_project_name(bundle: InboundBundle) -> str:
    """The name of the project import writes in the target space."""
    return f"{bundle.payload['source']['space']}: {bundle.payload['project']['name']}"


def choose_lifecycle(client: OctopusClient, sid: str, chosen: str, suggested: str = "") -> str:
    """The importer's choice, else the route's suggestion (by name) when this space has it,
    else the only lifecycle of the space."""
    lifecycles = client.lifecycles(sid)
    if chosen:
        if not any(lc["Id"] == chosen for lc in lifecycles):
            raise PromotionError(f"The lifecycle {chosen} does not exist in this space.")
        return chosen
    named = [lc for lc in lifecycles if suggested and lc["Name"] == suggested]
    if named:
        return str(named[0]["Id"])
    if len(lifecycles) == 1:
        return str(lifecycles[0]["Id"])
    raise PromotionError("This space has several lifecycles: choose the one the release follows.")


def write_project(
    client: OctopusClient, sid: str, name: str, lifecycle_id: str, p: dict[str, Any]
) -> dict[str, Any]:
    """The project named ``name`` following ``lifecycle_id``: created, or the one there."""
    for project in client.get_all(f"/api/{sid}/projects"):
        if project["Name"] == name:
            if project.get("LifecycleId") != lifecycle_id:
                project["LifecycleId"] = lifecycle_id
                project = client.put(f"/api/{sid}/projects/{project['Id']}", project)
            return dict(project)
    group = client.get(f"/api/{sid}/projectgroups/all")[0]
    description = (
        f"Imported by ODCM from {p['source']['space']}. {p['project'].get('description', '')}"
    )
    created: dict[str, Any] = client.post(
        f"/api/{sid}/projects",
        {
            "Name": name,
            "ProjectGroupId": group["Id"],
            "LifecycleId": lifecycle_id,
            "Description": description.strip(),
        },
    )
    return created


def write_release(
    client: OctopusClient, sid: str, project_id: str, p: dict[str, Any]
) -> dict[str, Any]:
    """The release with the bundle's version and package versions (the existing one when a
    retried import created it already)."""
    version = str(p["release"]["version"])
    existing = client.project_releases(sid, project_id, search_by_version=version)
    for rel in existing:
        if rel["Version"] == version:
            return dict(rel)
    selected = [
        {
            "ActionName": s.get("ActionName"),
            "PackageReferenceName": s.get("PackageReferenceName") or "",
            "Version": s.get("Version"),
        }
        for s in p["release"].get("selected_packages") or []
    ]
    return client.create_release(
        sid,
        {
            "ProjectId": project_id,
            "Version": version,
            "ReleaseNotes": p["release"].get("notes") or "",
            "SelectedPackages": selected,
        },
    )
