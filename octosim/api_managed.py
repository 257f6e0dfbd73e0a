"""What a managed space is built from: tag sets, worker pools and Git credentials.

Tag sets and worker pools are the 2020.5 resources (``TagSetResource``,
``WorkerPoolResource``); Git credentials (``/git-credentials``) arrived in Octopus 2021.3
and follow go-octopusdeploy's ``GitCredentialResource`` (a ``Details`` object of type
``UsernamePassword`` with a sensitive ``Password``). They reuse the generic space
collection handlers of :mod:`octosim.api_space`; what differs is built here.
"""

from __future__ import annotations

from typing import Any

from octosim import resources as R
from octosim.api_space import (
    KINDS,
    Kind,
    make_all,
    make_create,
    make_delete,
    make_get,
    make_list,
    make_update,
)
from octosim.errors import invalid
from octosim.paging import q
from octosim.routing import Ctx, Reply, Router
from octosim.state import Doc


def _b_tagset(ctx: Ctx, body: dict[str, Any]) -> Doc:
    order = max((t["SortOrder"] for t in ctx.col("tagsets").values()), default=-1) + 1
    return {
        "Id": ctx.st.next_id("TagSets"),
        "Name": body["Name"],
        "Description": "",
        "SortOrder": order,
        "Tags": [],
        "SpaceId": ctx.space_id or "",
        "LastModifiedOn": None,
        "LastModifiedBy": None,
    }


def _b_pool(ctx: Ctx, body: dict[str, Any]) -> Doc:
    pool_type = body.get("WorkerPoolType") or "StaticWorkerPool"
    if pool_type not in ("StaticWorkerPool", "DynamicWorkerPool"):
        raise invalid("WorkerPoolType must be 'StaticWorkerPool' or 'DynamicWorkerPool'.")
    doc = R.worker_pool_doc(ctx.st, ctx.space_id or "", body["Name"])
    doc["WorkerPoolType"] = pool_type
    doc["CanAddWorkers"] = pool_type == "StaticWorkerPool"
    return doc


def _b_git(ctx: Ctx, body: dict[str, Any]) -> Doc:
    details = body.get("Details")
    if not isinstance(details, dict) or details.get("Type") != "UsernamePassword":
        raise invalid("Details.Type must be 'UsernamePassword'.")
    if not details.get("Username"):
        raise invalid("The Details.Username field is required.")
    return {
        "Id": ctx.st.next_id("GitCredentials"),
        "Name": body["Name"],
        "Slug": R.slug_of(body["Name"]),
        "Description": "",
        "Details": {
            "Type": "UsernamePassword",
            "Username": "",
            "Password": {"HasValue": False, "NewValue": None, "Hint": None},
        },
        "SpaceId": ctx.space_id or "",
        "LastModifiedOn": None,
        "LastModifiedBy": None,
    }


def _normalize_tags(ctx: Ctx, doc: Doc) -> None:
    """Octopus gives each tag an id and a canonical name ``Set/Tag``; names are unique."""
    seen: set[str] = set()
    tags = []
    for order, raw in enumerate(doc.get("Tags") or []):
        if not isinstance(raw, dict) or not str(raw.get("Name") or "").strip():
            raise invalid("Every tag needs a Name.")
        name = str(raw["Name"]).strip()
        if name.lower() in seen:
            raise invalid(f"The tag '{name}' appears twice in this tag set.")
        seen.add(name.lower())
        tags.append(
            {
                "Id": raw.get("Id") or ctx.st.next_id("Tags"),
                "Name": name,
                "CanonicalTagName": f"{doc['Name']}/{name}",
                "Color": str(raw.get("Color") or "#333333"),
                "Description": str(raw.get("Description") or ""),
                "SortOrder": int(raw.get("SortOrder", order)),
            }
        )
    doc["Tags"] = tags


EXTRA_KINDS = (
    Kind(
        "tagsets",
        "TagSet",
        "tag set",
        q("skip", "take", "ids", "partialName"),
        _b_tagset,
        "TagSet",
        sort=lambda d: (d["SortOrder"], d["Name"].lower()),
    ),
    Kind(
        "workerpools",
        "WorkerPool",
        "worker pool",
        q("skip", "take", "ids", "partialName", "name"),
        _b_pool,
        "WorkerEdit",
        sort=lambda d: (d["SortOrder"], d["Name"].lower()),
        read_only=("WorkerPoolType", "CanAddWorkers"),
    ),
    Kind(
        "git-credentials",
        "GitCredential",
        "Git credential",
        q("skip", "take", "name"),
        _b_git,
        "GitCredential",
        required=("Details",),
    ),
)


def _after_write(kind: Kind, inner: Any) -> Any:
    """Wrap a generic create/update: a tag set's tags get ids and canonical names."""

    def handler(ctx: Ctx) -> Reply:
        body = ctx.json_body()
        if kind.name == "tagsets" and "Tags" in body:
            probe = {"Name": body.get("Name") or "", "Tags": body["Tags"]}
            _normalize_tags(ctx, probe)  # reject bad tags before anything is stored
        status, out = inner(ctx)
        if kind.name == "tagsets":
            doc = ctx.col(kind.name)[out["Id"]]
            _normalize_tags(ctx, doc)
            out = {**out, "Tags": doc["Tags"]}
        return status, out

    return handler


def register(router: Router) -> None:
    for kind in EXTRA_KINDS:
        KINDS[kind.name] = kind
        base = f"/{kind.name}"
        stem = kind.perm
        legacy = kind.name != "git-credentials"  # no pre-spaces form for a 2021.3 resource
        swagger = {} if legacy else {"swagger": None}
        create_perm = "WorkerEdit" if stem == "WorkerEdit" else f"{stem}Create"
        edit_perm = "WorkerEdit" if stem == "WorkerEdit" else f"{stem}Edit"
        delete_perm = "WorkerEdit" if stem == "WorkerEdit" else f"{stem}Delete"
        kw: dict[str, Any] = {"with_default": legacy, **swagger}
        router.space("GET", base, make_list(kind), **kw)
        router.space("GET", f"{base}/all", make_all(kind), **kw)
        router.space("GET", f"{base}/{{id}}", make_get(kind), **kw)
        create = _after_write(kind, make_create(kind))
        router.space("POST", base, create, permission=create_perm, **kw)
        update = _after_write(kind, make_update(kind))
        router.space("PUT", f"{base}/{{id}}", update, permission=edit_perm, **kw)
        router.space("DELETE", f"{base}/{{id}}", make_delete(kind), permission=delete_perm, **kw)
