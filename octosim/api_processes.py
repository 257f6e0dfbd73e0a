"""Deployment processes: the live process of each project (optimistic concurrency with
``Version``) and the frozen snapshots releases refer to."""

from __future__ import annotations

from octosim import processes as P
from octosim import resources as R
from octosim.api_core import require_space
from octosim.api_packages import latest_version
from octosim.errors import not_found
from octosim.paging import envelope, filter_common
from octosim.routing import Ctx, Reply, Router
from octosim.state import Doc, now


def render_process(doc: Doc) -> Doc:
    out = dict(doc)
    p = f"/api/{doc['SpaceId']}"
    links = {"Self": f"{p}/deploymentprocesses/{doc['Id']}"}
    if "RunbookId" in doc:
        links = {
            "Self": f"{p}/runbookProcesses/{doc['Id']}",
            "Runbook": f"{p}/runbooks/{doc['RunbookId']}",
        }
    else:
        links["Template"] = f"{p}/deploymentprocesses/{doc['Id']}/template{{?channel,releaseId}}"
    links["Project"] = f"{p}/projects/{doc['ProjectId']}"
    out["Links"] = links
    return out


def refs_for(ctx: Ctx, project_id: str) -> dict[str, set[str]]:
    return {
        "environments": set(ctx.col("environments")),
        "feeds": set(ctx.col("feeds")),
        "channels": {c["Id"] for c in ctx.col("channels").values() if c["ProjectId"] == project_id},
    }


def project_of(ctx: Ctx, ident: str) -> Doc:
    require_space(ctx)
    project = ctx.col("projects").get(ident)
    if project is None:
        project = next((p for p in ctx.col("projects").values() if p["Slug"] == ident), None)
    if project is None:
        raise not_found(ident)
    return project


def find_process(ctx: Ctx, ident: str) -> tuple[Doc, bool]:
    """(document, is_live) for a live process id or a snapshot id of this space."""
    require_space(ctx)
    for project in ctx.col("projects").values():
        if project["DeploymentProcessId"] == ident:
            return P.live_process(ctx.st, project), True
    doc = P.frozen_doc(ctx.st, ident)
    if doc is None or doc.get("SpaceId") != ctx.space_id or "RunbookId" in doc:
        raise not_found(ident)
    return doc, False


def update_process(ctx: Ctx, doc: Doc) -> Reply:
    body = ctx.json_body()
    P.check_version(doc, body)
    steps = P.clean_steps(body.get("Steps"), refs_for(ctx, doc["ProjectId"]))
    if "RunbookId" not in doc:
        P.freeze_shared(ctx.st, doc["ProjectId"])
    doc["Steps"] = steps
    doc["Version"] = int(doc["Version"]) + 1
    R.stamp(doc, ctx.username, now())
    return 200, render_process(doc)


def get_process(ctx: Ctx) -> Reply:
    return 200, render_process(find_process(ctx, ctx.params["id"])[0])


def put_process(ctx: Ctx) -> Reply:
    doc, live = find_process(ctx, ctx.params["id"])
    if not live:
        raise not_found(ctx.params["id"])  # a snapshot never changes
    ctx.st.processes[doc["Id"]] = doc  # a generated process is kept once it changes
    return update_process(ctx, doc)


def get_project_process(ctx: Ctx) -> Reply:
    project = project_of(ctx, ctx.params["id"])
    return 200, render_process(P.live_process(ctx.st, project))


def put_project_process(ctx: Ctx) -> Reply:
    project = project_of(ctx, ctx.params["id"])
    return update_process(ctx, P.live_process(ctx.st, project, store=True))


def list_processes(ctx: Ctx) -> Reply:
    require_space(ctx)
    docs = [P.live_process(ctx.st, p) for p in ctx.col("projects").values()]
    docs = filter_common(docs, ctx.query, lambda d: d["Id"], lambda d: d["Id"])
    path = f"{ctx.prefix}/deploymentprocesses"
    return 200, envelope(
        docs, ctx.query, item_type="DeploymentProcess", path=path,
        template=path + "{/id}{?skip,take,ids}", render=render_process,
    )  # fmt: skip


def package_slots(ctx: Ctx, doc: Doc) -> list[Doc]:
    """Every package reference of a process, with where it sits (for release templates
    and for choosing versions)."""
    out = []
    feeds = ctx.col("feeds")
    for st_ in doc["Steps"]:
        for act in st_["Actions"]:
            for ref in act["Packages"]:
                feed = feeds.get(ref["FeedId"], {})
                out.append(
                    {
                        "StepName": st_["Name"],
                        "ActionName": act["Name"],
                        "PackageReferenceName": ref["Name"],
                        "PackageId": ref["PackageId"],
                        "FeedId": ref["FeedId"],
                        "FeedName": feed.get("Name"),
                        "IsDisabled": act["IsDisabled"],
                    }
                )
    return out


def process_template(ctx: Ctx) -> Reply:
    doc, _ = find_process(ctx, ctx.params["id"])
    releases = [r for r in ctx.st.releases.values() if r.project_id == doc["ProjectId"]]
    last = max(releases, key=lambda r: r.assembled).version if releases else None
    packages = []
    for slot in package_slots(ctx, doc):
        packages.append(
            {
                "ActionName": slot["ActionName"],
                "StepName": slot["StepName"],
                "PackageReferenceName": slot["PackageReferenceName"],
                "PackageId": slot["PackageId"],
                "FeedId": slot["FeedId"],
                "FeedName": slot["FeedName"],
                "NuGetPackageId": slot["PackageId"],
                "NuGetFeedId": slot["FeedId"],
                "NuGetFeedName": slot["FeedName"],
                "ProjectName": None,
                "IsResolvable": True,
                "VersionSelectedLastRelease": latest_version(
                    ctx.st, str(ctx.space_id), slot["PackageId"]
                ),
            }
        )
    return 200, {
        "Id": f"{doc['Id']}-template",
        "DeploymentProcessId": doc["Id"],
        "LastReleaseVersion": last,
        "NextVersionIncrement": next_version(last),
        "VersioningPackageStepName": None,
        "VersioningPackageReferenceName": None,
        "Packages": packages,
        "LastModifiedOn": None,
        "LastModifiedBy": None,
        "Links": {"Self": f"/api/{ctx.space_id}/deploymentprocesses/{doc['Id']}/template"},
    }


def next_version(last: str | None) -> str:
    if not last:
        return "0.0.1"
    core = last.split("-")[0].split("+")[0].split(".")
    if core and core[-1].isdigit():
        core[-1] = str(int(core[-1]) + 1)
        return ".".join(core)
    return last + ".1"


def register(router: Router) -> None:
    router.space("GET", "/deploymentprocesses", list_processes)
    router.space("GET", "/deploymentprocesses/{id}", get_process)
    router.space("PUT", "/deploymentprocesses/{id}", put_process, permission="ProcessEdit")
    router.space("GET", "/deploymentprocesses/{id}/template", process_template)
    router.space(
        "GET", "/projects/{id}/deploymentprocesses", get_project_process,
        swagger=None, legacy_swagger=None,
    )  # fmt: skip
    router.space(
        "PUT", "/projects/{id}/deploymentprocesses", put_project_process,
        swagger=None, legacy_swagger=None, permission="ProcessEdit",
    )  # fmt: skip
