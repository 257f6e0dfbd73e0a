"""Manual interventions (interruptions) and the server nodes with their task queue."""

from __future__ import annotations

from octosim import engine
from octosim.api_core import render_user, require_space
from octosim.errors import invalid, not_found
from octosim.paging import bool_param, envelope, param
from octosim.resources import iso
from octosim.routing import Ctx, Reply, Router
from octosim.state import Doc, now


def _results(doc: Doc) -> tuple[str, ...]:
    return engine.GUIDED_RESULTS if doc.get("Kind") == "Guided" else engine.MANUAL_RESULTS


def render_interruption(ctx: Ctx, doc: Doc) -> Doc:
    p = f"/api/{doc['SpaceId']}"
    mine = doc["ResponsibleUserId"] == ctx.user_id
    return {
        "Id": doc["Id"],
        "Title": doc["Title"],
        "Created": doc["Created"],
        "IsPending": doc["IsPending"],
        "Form": {
            "Values": dict(doc["Values"]),
            "Elements": [
                {
                    "Name": "Instructions",
                    "IsValueRequired": False,
                    "Control": {"Type": "Paragraph", "Text": doc["Instructions"]},
                },
                {
                    "Name": "Notes",
                    "IsValueRequired": False,
                    "Control": {"Type": "TextArea", "Label": "Notes"},
                },
                {
                    "Name": "Result",
                    "IsValueRequired": True,
                    "Control": {
                        "Type": "SubmitButtonGroup",
                        "Buttons": [
                            {
                                "Text": value,
                                "Value": value,
                                "RequiresConfirmation": value in ("Abort", "Fail"),
                            }
                            for value in _results(doc)
                        ],
                    },
                },
            ],
        },  # fmt: skip
        "RelatedDocumentIds": list(doc["RelatedDocumentIds"]),
        "ResponsibleTeamIds": list(doc["ResponsibleTeamIds"]),
        "ResponsibleUserId": doc["ResponsibleUserId"],
        "CanTakeResponsibility": doc["IsPending"] and ctx.access == "full",
        "HasResponsibility": mine,
        "TaskId": doc["TaskId"],
        "CorrelationId": doc["CorrelationId"],
        "IsLinkedToOtherInterruption": False,
        "SpaceId": doc["SpaceId"],
        "LastModifiedOn": doc["Created"],
        "LastModifiedBy": None,
        "Links": {
            "Self": f"{p}/interruptions/{doc['Id']}",
            "Submit": f"{p}/interruptions/{doc['Id']}/submit",
            "Responsible": f"{p}/interruptions/{doc['Id']}/responsible",
        },
    }


def list_interruptions(ctx: Ctx) -> Reply:
    require_space(ctx)
    items = [d for d in ctx.st.interruptions.values() if d["SpaceId"] == ctx.space_id]
    if bool_param(ctx.query, "pendingOnly"):
        items = [d for d in items if d["IsPending"]]
    regarding = param(ctx.query, "regarding")
    if regarding:
        items = [
            d for d in items if regarding in d["RelatedDocumentIds"] or d["TaskId"] == regarding
        ]
    items.sort(key=lambda d: int(d["Id"].rsplit("-", 1)[1]), reverse=True)
    path = f"{ctx.prefix}/interruptions"
    return 200, envelope(
        items, ctx.query, item_type="Interruption", path=path,
        template=path + "{/id}{?skip,take,regarding,pendingOnly,ids}",
        render=lambda d: render_interruption(ctx, d),
    )  # fmt: skip


def _get(ctx: Ctx) -> Doc:
    require_space(ctx)
    doc = ctx.st.interruptions.get(ctx.params["id"])
    if doc is None or doc["SpaceId"] != ctx.space_id:
        raise not_found(ctx.params["id"])
    return doc


def get_interruption(ctx: Ctx) -> Reply:
    return 200, render_interruption(ctx, _get(ctx))


def _user(ctx: Ctx, user_id: str | None) -> Reply:
    user = ctx.st.sys("users").get(user_id or "")
    return 200, render_user(ctx, user) if user is not None else None


def get_responsible(ctx: Ctx) -> Reply:
    return _user(ctx, _get(ctx)["ResponsibleUserId"])


def take_responsibility(ctx: Ctx) -> Reply:
    doc = _get(ctx)
    if not doc["IsPending"]:
        raise invalid("This interruption has already been submitted.")
    doc["ResponsibleUserId"] = ctx.user_id
    return _user(ctx, ctx.user_id)


def submit(ctx: Ctx) -> Reply:
    doc = _get(ctx)
    body = ctx.json_body()
    if not doc["IsPending"]:
        raise invalid("This interruption has already been submitted.")
    if doc["ResponsibleUserId"] != ctx.user_id:
        raise invalid("You must take responsibility for this interruption before submitting it.")
    result = body.get("Result")
    allowed = _results(doc)
    if result not in allowed:
        raise invalid(f"The Result field must be one of: {', '.join(allowed)}.")
    doc["Values"] = {"Instructions": doc["Instructions"], "Notes": body.get("Notes"),
                     "Result": result}  # fmt: skip
    doc["IsPending"] = False
    doc["ResolvedAt"] = now()
    engine.advance(ctx.inst, now())
    return 200, render_interruption(ctx, doc)


# ---------------------------------------------------------------- server nodes


def render_node(ctx: Ctx, node: Doc) -> Doc:
    return {
        "Id": node["Id"],
        "Name": node["Name"],
        "MaxConcurrentTasks": node["MaxConcurrentTasks"],
        "IsInMaintenanceMode": node["IsInMaintenanceMode"],
        "LastSeen": iso(ctx.inst.anchor if node["Offline"] else now()),
        "Rank": node["Rank"],
        "IsOffline": node["Offline"],
        "Version": ctx.inst.version,
        "LastModifiedOn": node["LastModifiedOn"],
        "LastModifiedBy": node["LastModifiedBy"],
        "Links": {
            "Self": f"/api/octopusservernodes/{node['Id']}",
            "Details": f"/api/octopusservernodes/{node['Id']}/details",
        },
    }


def _nodes(ctx: Ctx) -> list[Doc]:
    return [render_node(ctx, n) for n in engine.nodes(ctx.inst)]


def list_nodes(ctx: Ctx) -> Reply:
    path = "/api/octopusservernodes"
    return 200, envelope(
        _nodes(ctx), ctx.query, item_type="OctopusServerNode", path=path,
        template=path + "{/id}{?skip,take,ids}", render=lambda d: d,
    )  # fmt: skip


def all_nodes(ctx: Ctx) -> Reply:
    return 200, _nodes(ctx)


def _node(ctx: Ctx) -> Doc:
    found = next((n for n in _nodes(ctx) if n["Id"] == ctx.params["id"]), None)
    if found is None:
        raise not_found(ctx.params["id"])
    return found


def get_node(ctx: Ctx) -> Reply:
    return 200, _node(ctx)


def put_node(ctx: Ctx) -> Reply:
    node = next((n for n in engine.nodes(ctx.inst) if n["Id"] == ctx.params["id"]), None)
    if node is None:
        raise not_found(ctx.params["id"])
    body = ctx.json_body()
    cap = body.get("MaxConcurrentTasks", node["MaxConcurrentTasks"])
    if not isinstance(cap, int) or cap < 0:
        raise invalid("MaxConcurrentTasks must be a whole number of 0 or more.")
    node["MaxConcurrentTasks"] = cap
    node["IsInMaintenanceMode"] = bool(body.get("IsInMaintenanceMode", node["IsInMaintenanceMode"]))
    return get_node(ctx)


def node_details(ctx: Ctx) -> Reply:
    node = _node(ctx)
    return 200, {
        "Id": node["Id"],
        "RunningTasks": engine.running_per_node(ctx.st).get(node["Id"], 0),
        "LastModifiedOn": None,
        "LastModifiedBy": None,
        "Links": {"Self": f"/api/octopusservernodes/{node['Id']}/details"},
    }


def node_summary(ctx: Ctx) -> Reply:
    moment = now()
    counts = engine.running_per_node(ctx.st)
    nodes = [{**n, "RunningTaskCount": counts.get(n["Id"], 0)} for n in _nodes(ctx)]
    queued = sum(
        1
        for tid in ctx.st.runs
        if tid in ctx.st.tasks and ctx.st.tasks[tid].state(moment) == "Queued"
    )
    return 200, {
        "Nodes": nodes,
        "IsInHighAvailabilityMode": len(nodes) > 1,
        "IsOffline": all(n["IsOffline"] for n in nodes),
        "QueuedTaskCount": queued,
        "RunningTaskCount": sum(n["RunningTaskCount"] for n in nodes),
        "MaxConcurrentTasks": sum(
            n["MaxConcurrentTasks"]
            for n in nodes
            if not (n["IsOffline"] or n["IsInMaintenanceMode"])
        ),
    }


def register(router: Router) -> None:
    router.space("GET", "/interruptions", list_interruptions)
    router.space("GET", "/interruptions/{id}", get_interruption)
    router.space("GET", "/interruptions/{id}/responsible", get_responsible)
    router.space(
        "PUT",
        "/interruptions/{id}/responsible",
        take_responsibility,
        permission="InterruptionSubmit",
    )
    router.space("POST", "/interruptions/{id}/submit", submit, permission="InterruptionSubmit")
    router.system("GET", "/octopusservernodes", list_nodes)
    router.system("GET", "/octopusservernodes/all", all_nodes)
    router.system("GET", "/octopusservernodes/summary", node_summary)
    router.system("GET", "/octopusservernodes/{id}", get_node)
    router.system("PUT", "/octopusservernodes/{id}", put_node, permission="ConfigureServer")
    router.system("GET", "/octopusservernodes/{id}/details", node_details)
