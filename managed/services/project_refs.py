"""What a template project's document refers to outside the project, and the names a space
gives those things: :class:`Lookups` (ids and names both ways, one ``GET …/all`` per kind)
and the dependencies a space must have before a document is written into it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from octopus import OctopusClient
from octopus.pipeline import sp

Doc = dict[str, Any]


@dataclass
class Lookups:
    """Ids and names of what a document refers to, in one space (both ways). Tags are kept
    as ``"tags"``: lower canonical name ("tag set/tag") -> the space's canonical name."""

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


def lookups(client: OctopusClient, space_id: str, *, tag_sets: bool = False) -> Lookups:
    """One ``GET …/all`` per kind; the tag sets (and their tags) only with ``tag_sets`` (a
    document naming tenant tags), so a push of one that names none reads no tag sets."""
    out = Lookups()
    for kind, path in LOOKUP_KINDS.items():
        docs = client.get_all(sp(space_id, path))
        out.by_name[kind] = {str(d["Name"]).lower(): str(d["Id"]) for d in docs}
        out.by_id[kind] = {str(d["Id"]): str(d["Name"]) for d in docs}
    if tag_sets:
        sets = client.get_all(sp(space_id, "tagsets"))
        out.by_name["tagsets"] = {str(d["Name"]).lower(): str(d["Id"]) for d in sets}
        out.by_id["tagsets"] = {str(d["Id"]): str(d["Name"]) for d in sets}
        canonical = [
            str(t.get("CanonicalTagName") or f"{s['Name']}/{t['Name']}")
            for s in sets
            for t in s.get("Tags") or []
        ]
        out.by_name["tags"] = {c.lower(): c for c in canonical}
    return out


# ---------------------------------------------------------------- dependencies


def tenant_tags(doc: Doc) -> list[str]:
    """The canonical tag names ("Tag set/Tag") the document's channels and steps (deployment
    and runbook) name, each once."""
    steps = [*doc.get("Steps", []), *(s for r in doc.get("Runbooks", []) for s in r["Steps"])]
    named = [str(t) for c in doc.get("Channels") or [] for t in c.get("TenantTags") or []]
    actions = [a for s in steps for a in s.get("Actions") or []]
    named += [str(t) for a in actions for t in a.get("TenantTags") or []]
    return sorted(set(named))


def dependencies(doc: Doc) -> dict[str, set[str]]:
    """What the document needs in a space, by kind (``tagsets``: the sets of the tenant
    tags it names; the tags themselves are checked by :func:`missing_dependencies`)."""
    need: dict[str, set[str]] = {k: set() for k in LOOKUP_KINDS}
    need["tagsets"] = {t.partition("/")[0] for t in tenant_tags(doc) if "/" in t}
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
    """``"kind: name"`` of each thing the document names that the space lacks (``look``
    read with ``tag_sets`` if it names tenant tags): a missing tag set is listed once, a
    missing tag of a set the space has as ``"tags: Tag set/Tag"``."""
    out = []
    for kind, names in dependencies(doc).items():
        for name in sorted(names):
            if look.id(kind, name) is None:
                out.append(f"{kind}: {name}")
    for tag in tenant_tags(doc):
        tag_set, _, name = tag.partition("/")
        if name and look.id("tagsets", tag_set) is not None and look.id("tags", tag) is None:
            out.append(f"tags: {tag}")
    return out
