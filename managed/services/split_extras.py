"""What a split carries beside the projects themselves: the tenants connected to them and
the projects' triggers, both by name.

* **Tenants**: every tenant of the source connected to a moved project (or named by one of
  its triggers), with its connections to the moved projects (environments by name) and its
  tenant tags. A tenant missing in the target is created; one that exists there (matched by
  name) gets the connections added — never a second tenant, never a connection or tag taken
  away. The tag sets those tags come from are dependencies: copied whole when the target
  lacks them, or given the missing tags when it has them ("extend").
* **Tenant variable values** (:mod:`managed.services.split_values`): the carried tenants'
  values of the moved projects' variable templates (per environment) and of the templates
  of the library variable sets those projects include, by name.
* **Channel tenant tags**: each moved channel's ``TenantTags`` ("Tag set/Tag"); the tag sets
  are dependencies like the tenants' tags.
* **Triggers** (``/projects/{id}/triggers``): the filter and action with environments,
  tenants, the channel and the runbook translated by name; matched by name in the copy.

Deployment targets and deployment history are not carried: a target is a tentacle (or a
cloud endpoint) registered with the source server, and releases, deployments and task logs
belong to that server. The plan says so and counts the targets left behind.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from managed.services.split_values import is_sensitive, values_doc
from octopus import OctopusClient
from octopus.pipeline import sp

Doc = dict[str, Any]
_SKIP = {"Id", "Links", "LastModifiedOn", "LastModifiedBy"}
# trigger fields holding ids, and what they name
_ENV_LISTS = ("EnvironmentIds", "SourceEnvironmentIds")
_ENV_ONE = ("DestinationEnvironmentId", "EnvironmentId")


@dataclass
class Names:
    """Id <-> name of what triggers and tenants refer to in one space."""

    envs: dict[str, str] = field(default_factory=dict)  # id -> name
    tenants: dict[str, str] = field(default_factory=dict)  # id -> name
    channels: dict[str, dict[str, str]] = field(default_factory=dict)  # project -> id -> name
    runbooks: dict[str, dict[str, str]] = field(default_factory=dict)  # project -> id -> name

    def env_name(self, ident: str) -> str:
        return self.envs.get(ident, ident)

    def env_id(self, name: str) -> str:
        return next((i for i, n in self.envs.items() if n.lower() == name.lower()), name)


@dataclass
class Extras:
    """The source side: tenants to carry (lower name -> document), triggers per project
    (name-based documents), tags used per tag set (lower set name -> tag names)."""

    tenants: dict[str, Doc] = field(default_factory=dict)
    triggers: dict[str, list[Doc]] = field(default_factory=dict)
    tags: dict[str, set[str]] = field(default_factory=dict)
    targets_left: list[str] = field(default_factory=list)  # deployment targets (names)
    # project -> channel name -> the channel's tenant tags
    channel_tags: dict[str, dict[str, list[str]]] = field(default_factory=dict)


def _project_names(
    client: OctopusClient,
    space_id: str,
    project_id: str,
    names: Names,
    key: str,
    channels: list[Doc] | None = None,
) -> None:
    if channels is None:
        channels = list(client.paginate(sp(space_id, "projects", project_id, "channels")))
    names.channels[key] = {str(c["Id"]): str(c["Name"]) for c in channels}
    names.runbooks[key] = {
        str(r["Id"]): str(r["Name"])
        for r in client.paginate(sp(space_id, "projects", project_id, "runbooks"))
    }


def trigger_doc(raw: Doc, names: Names, project: str) -> Doc:
    """A trigger as a name-based document (ids of environments, tenants, the channel and the
    runbook replaced by names)."""
    filt = {k: v for k, v in (raw.get("Filter") or {}).items() if k not in _SKIP}
    action = {k: v for k, v in (raw.get("Action") or {}).items() if k not in _SKIP}
    for part in (filt, action):
        for key in _ENV_LISTS:
            if key in part:
                part[key] = sorted(names.env_name(e) for e in part[key] or [])
        for key in _ENV_ONE:
            if part.get(key):
                part[key] = names.env_name(part[key])
    if "TenantIds" in action:
        action["TenantIds"] = sorted(names.tenants.get(t, t) for t in action["TenantIds"] or [])
    if action.get("ChannelId"):
        action["ChannelId"] = names.channels.get(project, {}).get(action["ChannelId"], "?")
    if action.get("RunbookId"):
        action["RunbookId"] = names.runbooks.get(project, {}).get(action["RunbookId"], "?")
    return {
        "Name": raw["Name"],
        "Description": raw.get("Description") or "",
        "IsDisabled": bool(raw.get("IsDisabled")),
        "Filter": filt,
        "Action": action,
    }


def trigger_body(doc: Doc, names: Names, project: str, project_id: str) -> Doc:
    """The inverse of :func:`trigger_doc` for the target space (``names`` of the target)."""
    filt, action = dict(doc["Filter"]), dict(doc["Action"])
    for part in (filt, action):
        for key in _ENV_LISTS:
            if key in part:
                part[key] = [names.env_id(e) for e in part[key]]
        for key in _ENV_ONE:
            if part.get(key):
                part[key] = names.env_id(part[key])
    by_name = {n.lower(): i for i, n in names.tenants.items()}
    if "TenantIds" in action:
        action["TenantIds"] = [by_name.get(t.lower(), t) for t in action["TenantIds"]]
    for key, known in (("ChannelId", names.channels), ("RunbookId", names.runbooks)):
        if action.get(key):
            ids = {n.lower(): i for i, n in known.get(project, {}).items()}
            action[key] = ids.get(action[key].lower(), action[key])
    return {**doc, "ProjectId": project_id, "Filter": filt, "Action": action}


def tenant_doc(raw: Doc, names: Names, projects: dict[str, str]) -> Doc:
    """A tenant as a name-based document: its tags and its connections to ``projects``
    (id -> name) only."""
    connections = {
        projects[pid]: sorted(names.env_name(e) for e in envs)
        for pid, envs in (raw.get("ProjectEnvironments") or {}).items()
        if pid in projects
    }
    return {
        "Name": raw["Name"],
        "Description": raw.get("Description") or "",
        "TenantTags": sorted(raw.get("TenantTags") or []),
        "Projects": dict(sorted(connections.items())),
    }


def names_of(envs: dict[str, str], tenants: list[Doc]) -> Names:
    return Names(envs=dict(envs), tenants={str(t["Id"]): str(t["Name"]) for t in tenants})


def read_source(
    client: OctopusClient, space_id: str, projects: dict[str, Doc], envs: dict[str, str]
) -> Extras:
    """Tenants, triggers and deployment targets of the source, for the chosen ``projects``
    (name -> Octopus project). ``envs`` maps the source's environment ids to names."""
    tenants = client.get_all(sp(space_id, "tenants"))
    names = names_of(envs, tenants)
    out = Extras()
    by_id = {str(p["Id"]): name for name, p in projects.items()}
    named: set[str] = set()
    for name, project in projects.items():
        channels = list(client.paginate(sp(space_id, "projects", project["Id"], "channels")))
        out.channel_tags[name] = {
            str(c["Name"]): sorted(c.get("TenantTags") or []) for c in channels
        }
        raws = list(client.paginate(sp(space_id, "projects", project["Id"], "triggers")))
        if raws:
            _project_names(client, space_id, project["Id"], names, name, channels)
        out.triggers[name] = sorted(
            (trigger_doc(t, names, name) for t in raws), key=lambda d: str(d["Name"]).lower()
        )
        for raw in raws:
            named |= set((raw.get("Action") or {}).get("TenantIds") or [])
    sets = {str(i) for p in projects.values() for i in p.get("IncludedLibraryVariableSetIds") or []}
    for tenant in tenants:
        if set(by_id) & set(tenant.get("ProjectEnvironments") or {}) or tenant["Id"] in named:
            doc = tenant_doc(tenant, names, by_id)
            raw = client.get(sp(space_id, "tenants", tenant["Id"], "variables"))
            doc["ProjectValues"], doc["CommonValues"] = values_doc(raw, envs, by_id, sets)
            out.tenants[str(tenant["Name"]).lower()] = doc
    used = [t for doc in out.tenants.values() for t in doc["TenantTags"]]
    for docs in out.triggers.values():
        used += [t for d in docs for t in d["Action"].get("TenantTags") or []]
    used += [t for chans in out.channel_tags.values() for tags in chans.values() for t in tags]
    add_tags(out, used)
    return out


def write_channel_tags(
    client: OctopusClient, space_id: str, project_id: str, wanted: dict[str, list[str]]
) -> int:
    """Give the target project's channels the source channels' tenant tags (by channel
    name). Returns the writes made."""
    if not any(wanted.values()):
        return 0
    by_name = {k.lower(): v for k, v in wanted.items()}
    writes = 0
    for raw in client.channels(space_id, project_id):
        tags = by_name.get(str(raw["Name"]).lower())
        if tags is None or sorted(raw.get("TenantTags") or []) == tags:
            continue
        client.update_channel(space_id, {**raw, "TenantTags": tags})
        writes += 1
    return writes


def add_tags(extras: Extras, tags: list[str]) -> None:
    """Note canonical tag names ("Tag set/Tag") whose tag sets the target needs."""
    for tag in tags:
        tag_set, _, tag_name = tag.partition("/")
        if tag_set and tag_name:
            extras.tags.setdefault(tag_set.lower(), set()).add(tag_name)


def step_tags(documents: list[Doc]) -> list[str]:
    """The tenant tags the projects' steps (deployment and runbook) are scoped to."""
    out: list[str] = []
    for doc in documents:
        steps = [*doc.get("Steps", []), *(s for r in doc.get("Runbooks", []) for s in r["Steps"])]
        for step in steps:
            for action in step.get("Actions") or []:
                out += [str(t) for t in action.get("TenantTags") or []]
    return out


def environments_needed(extras: Extras) -> set[str]:
    """Lower environment names the tenants' connections and the triggers name."""
    out: set[str] = set()
    for doc in extras.tenants.values():
        for envs in doc["Projects"].values():
            out |= {e.lower() for e in envs}
    for docs in extras.triggers.values():
        for doc in docs:
            for part in (doc["Filter"], doc["Action"]):
                for key in _ENV_LISTS:
                    out |= {e.lower() for e in part.get(key) or []}
                for key in _ENV_ONE:
                    if part.get(key):
                        out.add(str(part[key]).lower())
    return out


def targets_left_behind(client: OctopusClient, space_id: str, env_ids: set[str]) -> list[str]:
    """Deployment targets of the source in the environments the moved projects use: they
    stay where they are (one read)."""
    return sorted(
        str(m["Name"])
        for m in client.get_all(sp(space_id, "machines"))
        if env_ids & set(m.get("EnvironmentIds") or [])
    )


def missing_tags(extras: Extras, target_tagsets: dict[str, Doc]) -> dict[str, list[str]]:
    """Per tag set the target has: the tags it lacks (lower set name -> tag names)."""
    out = {}
    for lower, tags in extras.tags.items():
        have = target_tagsets.get(lower)
        if have is None:
            continue
        known = {str(t["Name"]).lower() for t in have.get("Tags") or []}
        lacking = sorted(t for t in tags if t.lower() not in known)
        if lacking:
            out[lower] = lacking
    return out


def plan_tenants(extras: Extras, target_tenants: dict[str, Doc], ours: set[str]) -> list[Doc]:
    """Per tenant: "copy" (created by this split) or "connect" (exists in the target)."""
    return [
        {
            "name": doc["Name"],
            "status": "copy" if lower not in target_tenants or lower in ours else "connect",
            "projects": doc["Projects"],
            "tags": doc["TenantTags"],
        }
        for lower, doc in sorted(extras.tenants.items())
    ]


# ---------------------------------------------------------------- write


def extend_tagset(client: OctopusClient, space_id: str, doc: Doc, tags: list[str]) -> Doc:
    """Add ``tags`` to the target's tag set ``doc`` (never removes one)."""
    body = {**doc, "Tags": [*(doc.get("Tags") or []), *({"Name": t} for t in tags)]}
    saved: Doc = client.put(sp(space_id, "tagsets", doc["Id"]), body)
    return saved


def write_tenant(
    client: OctopusClient,
    space_id: str,
    doc: Doc,
    current: Doc | None,
    project_ids: dict[str, str],
    names: Names,
) -> Doc | None:
    """Create the tenant, or add the connections and tags it lacks; None if nothing to do.
    ``project_ids`` maps the moved projects' names to their ids in the target."""
    wanted = {
        project_ids[p]: [names.env_id(e) for e in envs]
        for p, envs in doc["Projects"].items()
        if p in project_ids
    }
    if current is None:
        body = {
            "Name": doc["Name"],
            "Description": doc["Description"],
            "TenantTags": doc["TenantTags"],
            "ProjectEnvironments": wanted,
        }
        saved: Doc = client.post(sp(space_id, "tenants"), body)
        return saved
    connections = {k: list(v) for k, v in (current.get("ProjectEnvironments") or {}).items()}
    for pid, envs in wanted.items():
        have = connections.setdefault(pid, [])
        have += [e for e in envs if e not in have]
    tags = list(current.get("TenantTags") or [])
    known = {t.lower() for t in tags}
    tags += [t for t in doc["TenantTags"] if t.lower() not in known]
    if connections == current.get("ProjectEnvironments") and tags == current.get("TenantTags"):
        return None
    body = {**current, "ProjectEnvironments": connections, "TenantTags": tags}
    return dict(client.put(sp(space_id, "tenants", current["Id"]), body))


def write_triggers(
    client: OctopusClient,
    space_id: str,
    project: str,
    project_id: str,
    docs: list[Doc],
    names: Names,
) -> int:
    """Make the target project's triggers named in ``docs`` match them (others are left
    alone). Returns the writes made."""
    if not docs:
        return 0
    _project_names(client, space_id, project_id, names, project)
    current = {
        str(t["Name"]).lower(): t
        for t in client.paginate(sp(space_id, "projects", project_id, "triggers"))
    }
    writes = 0
    for doc in docs:
        have = current.get(str(doc["Name"]).lower())
        if have is not None and trigger_doc(have, names, project) == doc:
            continue
        body = trigger_body(doc, names, project, project_id)
        if have is None:
            client.post(sp(space_id, "projecttriggers"), body)
        else:
            client.put(sp(space_id, "projecttriggers", have["Id"]), {**have, **body})
        writes += 1
    return writes


# ---------------------------------------------------------------- verify


def units(extras: Extras, project: str) -> dict[str, Any]:
    """The units a project's comparison adds: each trigger, and each carried tenant's
    connection to the project (environments) and tags."""
    out: dict[str, Any] = {}
    for doc in extras.triggers.get(project, []):
        out[f"trigger/{doc['Name']}"] = doc
    for channel, tags in (extras.channel_tags.get(project) or {}).items():
        if tags:
            out[f"channel/{channel}/tenant-tags"] = tags
    for doc in extras.tenants.values():
        if project in doc["Projects"]:
            out[f"tenant/{doc['Name']}"] = {
                "Environments": doc["Projects"][project],
                "TenantTags": doc["TenantTags"],
            }
            values = {
                env: plain
                for env, vals in ((doc.get("ProjectValues") or {}).get(project) or {}).items()
                if (plain := {t: v for t, v in vals.items() if not is_sensitive(v)})
            }
            if values:
                out[f"tenant/{doc['Name']}/values"] = values
            for lvs, vals in (doc.get("CommonValues") or {}).items():
                plain = {t: v for t, v in vals.items() if not is_sensitive(v)}
                if plain:
                    out[f"tenant/{doc['Name']}/common/{lvs}"] = plain
    return out


def target_units(target: Extras, source: Extras, project: str) -> dict[str, Any]:
    """The same units read from the target. A tenant there may carry more tags and library
    set values than the source's (it existed before): only the source's are compared."""
    out = units(target, project)
    spelled = {  # the source's spelling of each library set (matched without case)
        f"tenant/{d['Name']}/common/{lvs}".lower(): f"tenant/{d['Name']}/common/{lvs}"
        for d in source.tenants.values()
        for lvs in d.get("CommonValues") or {}
    }
    for key in [k for k in out if "/common/" in k]:
        unit = out.pop(key)
        key = spelled.get(key.lower(), key)
        wanted = _source_common(source, key)
        # A tenant of the target may hold values the source's lacks (it was there before):
        # only the source's library set values are compared.
        unit = {t: v for t, v in unit.items() if t in (wanted or set())}
        if unit:
            out[key] = unit
    for key, unit in list(out.items()):
        if key.startswith("tenant/"):
            wanted = next(
                (d["TenantTags"] for d in source.tenants.values() if f"tenant/{d['Name']}" == key),
                None,
            )
            if wanted is not None:
                have = {t.lower(): t for t in unit["TenantTags"]}
                unit["TenantTags"] = sorted(have[t.lower()] for t in wanted if t.lower() in have)
    return out


def _source_common(source: Extras, key: str) -> set[str] | None:
    for doc in source.tenants.values():
        for lvs, values in (doc.get("CommonValues") or {}).items():
            if key == f"tenant/{doc['Name']}/common/{lvs}":
                return {t for t, v in values.items() if not is_sensitive(v)}
    return None
