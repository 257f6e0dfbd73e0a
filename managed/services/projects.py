"""A project as a canonical, name-based document; a three-way merge of two of them; and
writing one into a space.

The document (``serialize``) refers to everything outside the project by name (project
group, lifecycle, library variable sets, environments in scopes, feeds of packages, worker
pools, step templates), so it fits any space that has those. It is compared and merged as
**units**: project settings one by one, each deployment step, each runbook's settings and
each of its steps, each channel, each variable (by name and scope) and each variable
template. Sensitive values are never in it (Octopus does not return them): they come from
ODCM (a downstream's sealed values) or are listed as "needs a value in this space".
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from octopus import OctopusClient
from octopus.pipeline import sp

Doc = dict[str, Any]
SETTINGS = ("Description", "DefaultGuidedFailureMode", "TenantedDeploymentMode", "IsDisabled")
_DROP = {"Id", "Links", "LastModifiedOn", "LastModifiedBy", "Slug", "SpaceId"}


@dataclass
class Lookups:
    """Ids and names of what a document refers to, in one space (both ways)."""

    by_name: dict[str, dict[str, str]] = field(default_factory=dict)  # kind -> lower name -> id
    by_id: dict[str, dict[str, str]] = field(default_factory=dict)  # kind -> id -> name

    def name(self, kind: str, ident: str | None) -> str | None:
        if ident is None:
            return None
        return self.by_id.get(kind, {}).get(ident, ident)

    def id(self, kind: str, name: str | None) -> str | None:
        if name is None:
            return None
        return self.by_name.get(kind, {}).get(name.lower())


LOOKUP_KINDS = {
    "projectgroups": "projectgroups",
    "lifecycles": "lifecycles",
    "libraryvariablesets": "libraryvariablesets",
    "environments": "environments",
    "feeds": "feeds",
    "workerpools": "workerpools",
    "actiontemplates": "actiontemplates",
}


def lookups(client: OctopusClient, space_id: str) -> Lookups:
    out = Lookups()
    for kind, path in LOOKUP_KINDS.items():
        docs = client.get_all(sp(space_id, path))
        out.by_name[kind] = {str(d["Name"]).lower(): str(d["Id"]) for d in docs}
        out.by_id[kind] = {str(d["Id"]): str(d["Name"]) for d in docs}
    return out


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


def _scope_key(scope: Doc) -> str:
    return json.dumps({k: sorted(v) for k, v in sorted(scope.items()) if v}, sort_keys=True)


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


def serialize(client: OctopusClient, space_id: str, project: Doc, look: Lookups) -> Doc:
    """The canonical document of ``project`` (an Octopus project document)."""
    pid = project["Id"]
    process = client.get(sp(space_id, "deploymentprocesses", project["DeploymentProcessId"]))
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
        runbooks.append(
            {
                "Name": rb["Name"],
                "Description": rb.get("Description") or "",
                "Steps": _steps(rb_process, look),
            }
        )
    raw_channels = list(client.paginate(sp(space_id, "projects", pid, "channels")))
    channels = [
        {
            "Name": c["Name"],
            "Description": c.get("Description") or "",
            "Lifecycle": look.name("lifecycles", c.get("LifecycleId")),
            "IsDefault": bool(c.get("IsDefault")),
        }
        for c in raw_channels
    ]
    channel_names = {str(c["Id"]): str(c["Name"]) for c in raw_channels}
    vset = client.get(sp(space_id, "variables", project["VariableSetId"]))
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


# ---------------------------------------------------------------- units and merge


def units(doc: Doc) -> dict[str, Any]:
    """The document as independent units keyed by stable, name-based paths."""
    out: dict[str, Any] = {}
    for key, value in (doc.get("Project") or {}).items():
        if key != "Name":  # the name is per space (an override), never merged
            out[f"project/{key}"] = value
    for n, step in enumerate(doc.get("Steps") or []):
        out[f"step/{step['Name']}"] = {**step, "_order": n}
    for rb in doc.get("Runbooks") or []:
        out[f"runbook/{rb['Name']}"] = {"Description": rb["Description"]}
        for n, step in enumerate(rb.get("Steps") or []):
            out[f"runbook/{rb['Name']}/step/{step['Name']}"] = {**step, "_order": n}
    for ch in doc.get("Channels") or []:
        out[f"channel/{ch['Name']}"] = ch
    for var in doc.get("Variables") or []:
        out[f"variable/{var['Name']}/{_scope_key(var['Scope'])}"] = var
    for tpl in doc.get("Templates") or []:
        out[f"template/{tpl['Name']}"] = tpl
    return out


def document(name: str, parts: dict[str, Any]) -> Doc:
    """The inverse of :func:`units` (ordered by each unit's recorded position)."""
    doc: Doc = {
        "Project": {"Name": name},
        "Steps": [],
        "Runbooks": [],
        "Channels": [],
        "Variables": [],
        "Templates": [],
    }
    runbooks: dict[str, Doc] = {}
    rb_steps: dict[str, list[Doc]] = {}
    for key, value in parts.items():
        kind, _, rest = key.partition("/")
        if kind == "project":
            doc["Project"][rest] = value
        elif kind == "step":
            doc["Steps"].append(value)
        elif kind == "runbook" and "/step/" in rest:
            rb, _, _ = rest.partition("/step/")
            rb_steps.setdefault(rb, []).append(value)
        elif kind == "runbook":
            runbooks[rest] = {"Name": rest, **value, "Steps": []}
        elif kind == "channel":
            doc["Channels"].append(value)
        elif kind == "variable":
            doc["Variables"].append(value)
        elif kind == "template":
            doc["Templates"].append(value)
    doc["Steps"].sort(key=lambda s: s.get("_order", 0))
    for rb, steps in rb_steps.items():
        if rb in runbooks:
            runbooks[rb]["Steps"] = sorted(steps, key=lambda s: s.get("_order", 0))
    doc["Runbooks"] = list(runbooks.values())
    for step in [*doc["Steps"], *(s for r in doc["Runbooks"] for s in r["Steps"])]:
        step.pop("_order", None)
    return doc


@dataclass
class Merge:
    parts: dict[str, Any]
    conflicts: list[Doc]
    upstream_changes: int


def merge3(
    base: dict[str, Any],
    upstream: dict[str, Any],
    downstream: dict[str, Any],
    resolutions: dict[str, str] | None = None,
) -> Merge:
    """Per unit: upstream's change where downstream did not touch it, downstream's edit where
    upstream did not change it; both changed differently is a conflict unless resolved
    (``"upstream"`` or ``"downstream"``)."""
    resolutions = resolutions or {}
    parts: dict[str, Any] = {}
    conflicts: list[Doc] = []
    changes = 0
    missing = object()
    for key in sorted(set(base) | set(upstream) | set(downstream)):
        b, u, d = base.get(key, missing), upstream.get(key, missing), downstream.get(key, missing)
        if _same(u, b):
            chosen = d
        elif _same(d, b) or _same(u, d) or resolutions.get(key) == "upstream":
            chosen, changes = u, changes + 1
        elif resolutions.get(key) == "downstream":
            chosen = d
        else:
            conflicts.append(
                {
                    "key": key,
                    "base": None if b is missing else b,
                    "upstream": None if u is missing else u,
                    "downstream": None if d is missing else d,
                }
            )
            chosen = d
        if chosen is not missing:
            parts[key] = chosen
    return Merge(parts, conflicts, changes)


def _same(a: Any, b: Any) -> bool:
    strip = lambda v: {k: x for k, x in v.items() if k != "_order"} if isinstance(v, dict) else v  # noqa: E731
    return bool(strip(a) == strip(b))


# ---------------------------------------------------------------- dependencies


def dependencies(doc: Doc) -> dict[str, set[str]]:
    """What the document needs in a space, by kind."""
    need: dict[str, set[str]] = {k: set() for k in LOOKUP_KINDS}
    project = doc.get("Project") or {}
    if project.get("ProjectGroup"):
        need["projectgroups"].add(project["ProjectGroup"])
    if project.get("Lifecycle"):
        need["lifecycles"].add(project["Lifecycle"])
    need["libraryvariablesets"].update(project.get("LibraryVariableSets") or [])
    steps = [*doc.get("Steps", []), *(s for r in doc.get("Runbooks", []) for s in r["Steps"])]
    for step in steps:
        for action in step.get("Actions") or []:
            need["environments"].update(action.get("Environments") or [])
            need["environments"].update(action.get("ExcludedEnvironments") or [])
            if action.get("WorkerPoolId"):
                need["workerpools"].add(action["WorkerPoolId"])
            for package in action.get("Packages") or []:
                if package.get("FeedId"):
                    need["feeds"].add(package["FeedId"])
            template = (action.get("Properties") or {}).get("Octopus.Action.Template.Id")
            if template:
                need["actiontemplates"].add(template)
    for channel in doc.get("Channels") or []:
        if channel.get("Lifecycle"):
            need["lifecycles"].add(channel["Lifecycle"])
    for var in doc.get("Variables") or []:
        need["environments"].update((var.get("Scope") or {}).get("Environment") or [])
    return need


def missing_dependencies(doc: Doc, look: Lookups) -> list[str]:
    out = []
    for kind, names in dependencies(doc).items():
        for name in sorted(names):
            if look.id(kind, name) is None:
                out.append(f"{kind}: {name}")
    return out


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
) -> Written:
    """Make the space's project match ``doc``; ``current`` is what ``serialize`` read from
    it (None: no project yet). Only sections that differ are written."""
    writes = 0
    settings = doc["Project"]
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
        current = serialize(client, space_id, project, look)
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
        process = client.get(path)
        process["Steps"] = _to_steps(doc["Steps"], look, process.get("Steps") or [])
        client.put(path, process)
        writes += 1
    writes += _write_runbooks(client, space_id, project, doc, current, look)
    writes += _write_channels(client, space_id, project, doc, current, look)
    if _sorted_vars(current) != _sorted_vars(doc) or (secrets and secrets_changed):
        writes += _write_variables(client, space_id, project, doc, look, secrets)
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
    client: OctopusClient, space_id: str, project: Doc, doc: Doc, current: Doc, look: Lookups
) -> int:
    have = {r["Name"].lower(): r for r in current["Runbooks"]}  # compared by name, not order
    wanted = [r for r in doc["Runbooks"] if have.get(r["Name"].lower()) != r]
    if not wanted:
        return 0
    writes = 0
    existing = {
        r["Name"].lower(): r
        for r in client.paginate(sp(space_id, "projects", project["Id"], "runbooks"))
    }
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
            process = client.get(path)
            process["Steps"] = _to_steps(rb["Steps"], look, process.get("Steps") or [])
            client.put(path, process)
            writes += 1
    return writes


def _write_channels(
    client: OctopusClient, space_id: str, project: Doc, doc: Doc, current: Doc, look: Lookups
) -> int:
    have = {c["Name"].lower(): c for c in current["Channels"]}
    wanted = [c for c in doc["Channels"] if have.get(c["Name"].lower()) != c]
    if not wanted:
        return 0
    existing = {c["Name"].lower(): c for c in client.channels(space_id, project["Id"])}
    writes = 0
    for ch in wanted:
        body = {
            "Name": ch["Name"],
            "Description": ch["Description"],
            "LifecycleId": look.id("lifecycles", ch["Lifecycle"]),
            "IsDefault": ch["IsDefault"],
            "ProjectId": project["Id"],
        }
        raw = existing.get(ch["Name"].lower())
        if raw is None:
            client.create_channel(space_id, {**body, "Rules": [], "TenantTags": []})
        else:
            client.update_channel(space_id, {**raw, **body})
        writes += 1
    return writes


def _write_variables(
    client: OctopusClient,
    space_id: str,
    project: Doc,
    doc: Doc,
    look: Lookups,
    secrets: dict[str, str],
) -> int:
    path = sp(space_id, "variables", project["VariableSetId"])
    vset = client.get(path)
    # The project's channels (read only if a variable is scoped to one): ids both ways.
    listed = (
        client.channels(space_id, project["Id"])
        if any("Channel" in v["Scope"] for v in doc["Variables"])
        else []
    )
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
    client.put(path, vset)
    return 1


def _sorted_vars(doc: Doc) -> list[Doc]:
    """Variables in one order (by name and scope): Octopus keeps no meaningful order."""
    return sorted(doc["Variables"], key=lambda v: (v["Name"], _scope_key(v["Scope"])))


def needs_values(doc: Doc, secrets: dict[str, str]) -> list[str]:
    """Sensitive variables the space has no value for from ODCM (names)."""
    return sorted({v["Name"] for v in doc["Variables"] if v["IsSensitive"]} - set(secrets))
