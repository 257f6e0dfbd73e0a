"""A project as a canonical, name-based document, and writing one into a space (the
units and the three-way merge of two documents are :mod:`managed.services.project_merge`).

The document (``serialize``) refers to everything outside the project by name (project
group, lifecycle, library variable sets, environments in scopes, feeds of packages, worker
pools, step templates, a channel's tenant tags as "Tag set/Tag"), so it fits any space that
has those. It is compared and merged as **units**: project settings one by one, each
deployment step, each runbook's settings and each of its steps, each channel, each
channel's tenant tags, each variable (by name and scope) and each variable template.
Sensitive values are never in it (Octopus does not return them): they come from ODCM (a
downstream's sealed values) or are listed as "needs a value in this space".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from managed.services.project_merge import Merge as Merge
from managed.services.project_merge import _same as _same
from managed.services.project_merge import document as document
from managed.services.project_merge import merge3 as merge3
from managed.services.project_merge import scope_key as _scope_key
from managed.services.project_merge import units as units
from managed.services.project_refs import LOOKUP_KINDS as LOOKUP_KINDS
from managed.services.project_refs import Lookups as Lookups
from managed.services.project_refs import dependencies as dependencies
from managed.services.project_refs import lookups as lookups
from managed.services.project_refs import missing_dependencies as missing_dependencies
from managed.services.project_refs import tenant_tags as tenant_tags
from octopus import OctopusClient
from octopus.pipeline import sp

Doc = dict[str, Any]
SETTINGS = ("Description", "DefaultGuidedFailureMode", "TenantedDeploymentMode", "IsDisabled")
_DROP = {"Id", "Links", "LastModifiedOn", "LastModifiedBy", "Slug", "SpaceId"}


@dataclass
class Raw:
    """The Octopus documents :func:`serialize` read, so that :func:`write` sends them back
    instead of reading them again. Each carries the ``Version`` (or is the collection) the
    merge was computed from: Octopus refuses a PUT whose ``Version`` is stale, so an edit made
    in the space after that read fails the push (retried: read, merged again) instead of
    being overwritten."""

    process: Doc | None = None
    runbooks: list[Doc] | None = None
    runbook_processes: dict[str, Doc] = field(default_factory=dict)
    channels: list[Doc] | None = None
    variables: Doc | None = None


# ---------------------------------------------------------------- serialize


def _names(look: Lookups, kind: str, ids: list[str]) -> list[str]:
    return [look.name(kind, i) or i for i in ids]


def _action(raw: Doc, look: Lookups) -> Doc:
    out = {k: v for k, v in raw.items() if k not in _DROP}
    out["Environments"] = _names(look, "environments", raw.get("Environments") or [])
    out["ExcludedEnvironments"] = _names(
        look, "environments", raw.get("ExcludedEnvironments") or []
    )
    out["WorkerPoolId"] = look.name("workerpools", raw.get("WorkerPoolId"))
    out["Channels"] = []  # channel ids differ per project; not carried
    out["Packages"] = [
        {
            **{k: v for k, v in p.items() if k not in _DROP},
            "FeedId": look.name("feeds", p.get("FeedId")),
        }
        for p in raw.get("Packages") or []
    ]
    props = dict(raw.get("Properties") or {})
    if "Octopus.Action.Template.Id" in props:
        props["Octopus.Action.Template.Id"] = look.name(
            "actiontemplates", props["Octopus.Action.Template.Id"]
        )
    out["Properties"] = props
    return out


def _steps(process: Doc, look: Lookups) -> list[Doc]:
    return [
        {
            **{k: v for k, v in s.items() if k not in _DROP and k != "Actions"},
            "Actions": [_action(a, look) for a in s.get("Actions") or []],
        }
        for s in process.get("Steps") or []
    ]


def _variables(vset: Doc, look: Lookups, channels: dict[str, str] | None = None) -> list[Doc]:
    out = []
    for v in vset.get("Variables") or []:
        scope = dict(v.get("Scope") or {})
        if "Environment" in scope:
            scope["Environment"] = _names(look, "environments", scope["Environment"])
        if "Channel" in scope and channels:  # channel ids are per project: carried by name
            scope["Channel"] = [channels.get(c, c) for c in scope["Channel"]]
        sensitive = bool(v.get("IsSensitive"))
        out.append(
            {
                "Name": v["Name"],
                "Value": None if sensitive else v.get("Value"),
                "Type": v.get("Type") or "String",
                "IsSensitive": sensitive,
                "Scope": {k: sorted(x) for k, x in scope.items() if x},
            }
        )
    return out


def _channel(raw: Doc, look: Lookups) -> Doc:
    out = {
        "Name": raw["Name"],
        "Description": raw.get("Description") or "",
        "Lifecycle": look.name("lifecycles", raw.get("LifecycleId")),
        "IsDefault": bool(raw.get("IsDefault")),
    }
    # Canonical tag names ("Tag set/Tag"), kept only when there are some, so a document
    # saved before tags were carried equals today's of the same project.
    if raw.get("TenantTags"):
        out["TenantTags"] = sorted(str(t) for t in raw["TenantTags"])
    return out


def serialize(
    client: OctopusClient, space_id: str, project: Doc, look: Lookups, raw: Raw | None = None
) -> Doc:
    """The canonical document of ``project`` (an Octopus project document); ``raw`` is
    given the Octopus documents read, for :func:`write`."""
    raw = raw if raw is not None else Raw()
    pid = project["Id"]
    process = client.get(sp(space_id, "deploymentprocesses", project["DeploymentProcessId"]))
    raw.process = process
    runbooks = []
    listed = list(client.paginate(sp(space_id, "projects", pid, "runbooks")))
    # Every runbook process of the project in one read (the collection's ``ids`` filter),
    # not one GET per runbook: a no-op push costs at most one request per kind.
    processes = {
        p["Id"]: p
        for p in (
            client.paginate(
                sp(space_id, "runbookProcesses"),
                {"ids": ",".join(rb["RunbookProcessId"] for rb in listed)},
            )
            if listed
            else []
        )
    }
    for rb in listed:
        rb_process = processes.get(rb["RunbookProcessId"]) or client.get(
            sp(space_id, "runbookProcesses", rb["RunbookProcessId"])
        )
        raw.runbook_processes[str(rb_process["Id"])] = rb_process
        runbooks.append(
            {
                "Name": rb["Name"],
                "Description": rb.get("Description") or "",
                "Steps": _steps(rb_process, look),
            }
        )
    raw.runbooks = listed
    raw_channels = list(client.paginate(sp(space_id, "projects", pid, "channels")))
    raw.channels = raw_channels
    channels = [_channel(c, look) for c in raw_channels]
    channel_names = {str(c["Id"]): str(c["Name"]) for c in raw_channels}
    vset = client.get(sp(space_id, "variables", project["VariableSetId"]))
    raw.variables = vset
    return {
        "Project": {
            "Name": project["Name"],
            **{k: project.get(k) for k in SETTINGS},
            "ProjectGroup": look.name("projectgroups", project.get("ProjectGroupId")),
            "Lifecycle": look.name("lifecycles", project.get("LifecycleId")),
            "LibraryVariableSets": sorted(
                _names(
                    look, "libraryvariablesets", project.get("IncludedLibraryVariableSetIds") or []
                )
            ),
        },
        "Steps": _steps(process, look),
        "Runbooks": runbooks,
        "Channels": channels,
        "Variables": _variables(vset, look, channel_names),
        "Templates": [
            {k: v for k, v in t.items() if k not in _DROP} for t in project.get("Templates") or []
        ],
    }


# ---------------------------------------------------------------- write


def _ids(look: Lookups, kind: str, names: list[str]) -> list[str]:
    return [look.id(kind, n) or n for n in names]


def _to_action(action: Doc, look: Lookups, old: Doc | None) -> Doc:
    out = dict(action)
    if old is not None:
        out["Id"] = old["Id"]
    out["Environments"] = _ids(look, "environments", action.get("Environments") or [])
    out["ExcludedEnvironments"] = _ids(
        look, "environments", action.get("ExcludedEnvironments") or []
    )
    out["WorkerPoolId"] = look.id("workerpools", action.get("WorkerPoolId"))
    out["Packages"] = [
        {**p, "FeedId": look.id("feeds", p.get("FeedId"))} for p in action.get("Packages") or []
    ]
    props = dict(action.get("Properties") or {})
    if "Octopus.Action.Template.Id" in props:
        props["Octopus.Action.Template.Id"] = look.id(
            "actiontemplates", props["Octopus.Action.Template.Id"]
        )
    out["Properties"] = props
    return out


def _to_steps(steps: list[Doc], look: Lookups, current: list[Doc]) -> list[Doc]:
    old_steps = {s["Name"].lower(): s for s in current}
    out = []
    for step in steps:
        old = old_steps.get(step["Name"].lower())
        old_actions = {a["Name"].lower(): a for a in (old or {}).get("Actions") or []}
        body = {**step, "Actions": [
            _to_action(a, look, old_actions.get(a["Name"].lower())) for a in step["Actions"]
        ]}  # fmt: skip
        if old is not None:
            body["Id"] = old["Id"]
        out.append(body)
    return out


@dataclass
class Written:
    project_id: str
    writes: int


def write(
    client: OctopusClient,
    space_id: str,
    doc: Doc,
    current: Doc | None,
    project: Doc | None,
    look: Lookups,
    secrets: dict[str, str],
    *,
    secrets_changed: bool = True,
    raw: Raw | None = None,
) -> Written:
    """Make the space's project match ``doc``; ``current`` is what ``serialize`` read from
    it (None: no project yet) and ``raw`` what it was read from (the process, runbooks,
    channels and variables are then sent back with the ``Version`` read, not read again).
    Only sections that differ are written."""
    writes = 0
    settings = doc["Project"]
    raw = raw if raw is not None and current is not None else Raw()
    if project is None:
        project = client.post(
            sp(space_id, "projects"),
            {
                "Name": settings["Name"],
                "ProjectGroupId": look.id("projectgroups", settings["ProjectGroup"]),
                "LifecycleId": look.id("lifecycles", settings["Lifecycle"]),
            },
        )
        writes += 1
        current = serialize(client, space_id, project, look, raw)
    assert current is not None and project is not None
    space_project = sp(space_id, "projects", project["Id"])
    if current["Project"] != settings or current["Templates"] != doc["Templates"]:
        body = {
            **project,
            **{k: settings.get(k) for k in SETTINGS},
            "Name": settings["Name"],
            "ProjectGroupId": look.id("projectgroups", settings["ProjectGroup"]),
            "LifecycleId": look.id("lifecycles", settings["Lifecycle"]),
            "IncludedLibraryVariableSetIds": _ids(
                look, "libraryvariablesets", settings["LibraryVariableSets"]
            ),
            "Templates": _template_ids(doc["Templates"], project.get("Templates") or []),
        }
        project = client.put(space_project, body)
        writes += 1
    if current["Steps"] != doc["Steps"]:
        path = sp(space_id, "deploymentprocesses", project["DeploymentProcessId"])
        process = dict(raw.process if raw.process is not None else client.get(path))
        process["Steps"] = _to_steps(doc["Steps"], look, process.get("Steps") or [])
        raw.process = client.put(path, process)
        writes += 1
    writes += _write_runbooks(client, space_id, project, doc, current, look, raw)
    writes += _write_channels(client, space_id, project, doc, current, look, raw)
    if _sorted_vars(current) != _sorted_vars(doc) or (secrets and secrets_changed):
        writes += _write_variables(client, space_id, project, doc, look, secrets, raw)
    return Written(str(project["Id"]), writes)


def _template_ids(templates: list[Doc], current: list[Doc]) -> list[Doc]:
    """The document's variable templates with the ids the space's project already gives
    them (by name): tenant variable values are keyed by template id, so a template that is
    written again must keep its id (a new one gets its id from Octopus)."""
    ids = {str(t.get("Name", "")).lower(): t.get("Id") for t in current}
    out = []
    for template in templates:
        ident = ids.get(str(template.get("Name", "")).lower())
        out.append({**template, "Id": ident} if ident else dict(template))
    return out


def _write_runbooks(
    client: OctopusClient,
    space_id: str,
    project: Doc,
    doc: Doc,
    current: Doc,
    look: Lookups,
    raw_docs: Raw,
) -> int:
    have = {r["Name"].lower(): r for r in current["Runbooks"]}  # compared by name, not order
    wanted = [r for r in doc["Runbooks"] if have.get(r["Name"].lower()) != r]
    if not wanted:
        return 0
    writes = 0
    listed = raw_docs.runbooks
    if listed is None:
        listed = list(client.paginate(sp(space_id, "projects", project["Id"], "runbooks")))
    existing = {r["Name"].lower(): r for r in listed}
    for rb in wanted:
        raw = existing.get(rb["Name"].lower())
        if raw is None:
            raw = client.post(
                sp(space_id, "runbooks"),
                {"Name": rb["Name"], "Description": rb["Description"], "ProjectId": project["Id"]},
            )
            writes += 1
        elif (have.get(rb["Name"].lower()) or {}).get("Description") != rb["Description"]:
            raw = client.put(
                sp(space_id, "runbooks", raw["Id"]), {**raw, "Description": rb["Description"]}
            )
            writes += 1
        old = have.get(rb["Name"].lower())
        if old is None or old["Steps"] != rb["Steps"]:
            path = sp(space_id, "runbookProcesses", raw["RunbookProcessId"])
            read = raw_docs.runbook_processes.get(str(raw["RunbookProcessId"]))
            process = dict(read if read is not None else client.get(path))
            process["Steps"] = _to_steps(rb["Steps"], look, process.get("Steps") or [])
            raw_docs.runbook_processes[str(raw["RunbookProcessId"])] = client.put(path, process)
            writes += 1
    return writes


def _write_channels(
    client: OctopusClient,
    space_id: str,
    project: Doc,
    doc: Doc,
    current: Doc,
    look: Lookups,
    raw_docs: Raw,
) -> int:
    have = {c["Name"].lower(): c for c in current["Channels"]}
    wanted = [c for c in doc["Channels"] if have.get(c["Name"].lower()) != c]
    if not wanted:
        return 0
    if raw_docs.channels is None:
        raw_docs.channels = client.channels(space_id, project["Id"])
    existing = {c["Name"].lower(): c for c in raw_docs.channels}
    writes = 0
    for ch in wanted:
        body = {
            "Name": ch["Name"],
            "Description": ch["Description"],
            "LifecycleId": look.id("lifecycles", ch["Lifecycle"]),
            "IsDefault": ch["IsDefault"],
            "ProjectId": project["Id"],
            # the space's spelling of each tag (a tag set named "tier" there); a tag the
            # space lacks was refused as a missing dependency before anything was written
            "TenantTags": _ids(look, "tags", ch.get("TenantTags") or []),
        }
        raw = existing.get(ch["Name"].lower())
        if raw is None:
            saved = client.create_channel(space_id, {**body, "Rules": []})
        else:
            saved = client.update_channel(space_id, {**raw, **body})
        existing[ch["Name"].lower()] = saved
        writes += 1
    raw_docs.channels = list(existing.values())
    return writes


def _write_variables(
    client: OctopusClient,
    space_id: str,
    project: Doc,
    doc: Doc,
    look: Lookups,
    secrets: dict[str, str],
    raw_docs: Raw,
) -> int:
    path = sp(space_id, "variables", project["VariableSetId"])
    vset = dict(raw_docs.variables if raw_docs.variables is not None else client.get(path))
    # The project's channels (read only if a variable is scoped to one and they were not
    # read already): ids both ways.
    listed = raw_docs.channels or []
    if raw_docs.channels is None and any("Channel" in v["Scope"] for v in doc["Variables"]):
        listed = client.channels(space_id, project["Id"])
    channels = {str(c["Name"]).lower(): str(c["Id"]) for c in listed}
    channel_names = {str(c["Id"]): str(c["Name"]) for c in listed}
    old = {}
    for v in vset.get("Variables") or []:
        scope = dict(v.get("Scope") or {})
        if "Environment" in scope:
            scope["Environment"] = _names(look, "environments", scope["Environment"])
        if "Channel" in scope and channel_names:
            scope["Channel"] = [channel_names.get(c, c) for c in scope["Channel"]]
        old[(v["Name"], _scope_key({k: x for k, x in scope.items() if x}))] = v
    out = []
    for var in doc["Variables"]:
        scope = dict(var["Scope"])
        if "Environment" in scope:
            scope["Environment"] = _ids(look, "environments", scope["Environment"])
        if "Channel" in scope:
            scope["Channel"] = [channels.get(c.lower(), c) for c in scope["Channel"]]
        body: Doc = {
            "Name": var["Name"],
            "Value": var["Value"],
            "Type": var["Type"],
            "IsSensitive": var["IsSensitive"],
            "Scope": scope,
        }
        previous = old.get((var["Name"], _scope_key(var["Scope"])))
        if previous is not None:
            body["Id"] = previous["Id"]
        if var["IsSensitive"]:
            body["Value"] = secrets.get(var["Name"])  # None keeps what Octopus holds
        out.append(body)
    vset["Variables"] = out
    raw_docs.variables = client.put(path, vset)
    return 1


def _sorted_vars(doc: Doc) -> list[Doc]:
    """Variables in one order (by name and scope): Octopus keeps no meaningful order."""
    return sorted(doc["Variables"], key=lambda v: (v["Name"], _scope_key(v["Scope"])))


def needs_values(doc: Doc, secrets: dict[str, str]) -> list[str]:
    """Sensitive variables the space has no value for from ODCM (names)."""
    return sorted({v["Name"] for v in doc["Variables"] if v["IsSensitive"]} - set(secrets))
