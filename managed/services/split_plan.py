"""A split's plan: the source's chosen projects read and serialized, what they depend on
(and what that depends on in turn), their tenants and triggers, each matched by name in the
target ("exists", "copy", "extend", "connect"), and what cannot be moved. Reads only; the
copy itself is :mod:`managed.services.split`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from managed.models import Split
from managed.services import projects as P
from managed.services import split_extras as X
from managed.services import split_values as V
from managed.services.content import BlueprintInvalid
from octopus import OctopusClient
from octopus.pipeline import sp
from spaces.models import Space

Doc = dict[str, Any]

# Copied in this order: a lifecycle names environments, a project names all of them.
KINDS = (
    "environments",
    "lifecycles",
    "feeds",
    "projectgroups",
    "workerpools",
    "tagsets",
    "libraryvariablesets",
    "actiontemplates",
)
LABELS = {
    "environments": "Environment",
    "lifecycles": "Lifecycle",
    "feeds": "Feed",
    "projectgroups": "Project group",
    "workerpools": "Worker pool",
    "tagsets": "Tag set",
    "libraryvariablesets": "Library variable set",
    "actiontemplates": "Step template",
}


class SplitError(BlueprintInvalid):
    """A split that cannot be planned or run; the message says why."""


@dataclass
class SpaceDocs:
    """Every item of the dependency kinds in one space: {kind: {lower name: document}}."""

    docs: dict[str, dict[str, Doc]] = field(default_factory=dict)
    projects: dict[str, Doc] = field(default_factory=dict)
    tenants: dict[str, Doc] = field(default_factory=dict)
    # lower tenant name -> (project values, library set values) of the target's tenants
    # that the split carries a tenant of that name to (read by :func:`read_target`)
    tenant_values: dict[str, tuple[Doc, Doc]] = field(default_factory=dict)

    def lookups(self) -> P.Lookups:
        out = P.Lookups()
        for kind, items in self.docs.items():
            out.by_name[kind] = {k: str(d["Id"]) for k, d in items.items()}
            out.by_id[kind] = {str(d["Id"]): str(d["Name"]) for d in items.values()}
        return out

    def name_of(self, kind: str, ident: str) -> str:
        for doc in self.docs.get(kind, {}).values():
            if doc["Id"] == ident:
                return str(doc["Name"])
        return ident


def read(client: OctopusClient, space_id: str) -> SpaceDocs:
    """One ``GET …/all`` per kind, the projects and the tenants."""
    out = SpaceDocs()
    for kind in KINDS:
        out.docs[kind] = {str(d["Name"]).lower(): d for d in client.get_all(sp(space_id, kind))}
    out.projects = {str(d["Name"]).lower(): d for d in client.get_all(sp(space_id, "projects"))}
    out.tenants = {str(d["Name"]).lower(): d for d in client.get_all(sp(space_id, "tenants"))}
    return out


def read_target(client: OctopusClient, space_id: str, src: Source) -> SpaceDocs:
    """:func:`read`, plus the variable values of the target's tenants that the split
    carries a tenant of that name to (one read per such tenant)."""
    out = read(client, space_id)
    envs = out.lookups().by_id.get("environments", {})
    out.tenant_values = V.target_values(client, space_id, src.extras.tenants, out.tenants, envs)
    return out


# ---------------------------------------------------------------- plan


@dataclass
class Source:
    """The source side of a split: its items, its lookups and the chosen documents."""

    docs: SpaceDocs
    look: P.Lookups
    documents: dict[str, Doc]  # project name -> serialized document
    library_vars: dict[str, Doc]  # library set lower name -> its variable set
    extras: X.Extras = field(default_factory=X.Extras)  # tenants, triggers


def read_source(
    client: OctopusClient, space: Space, names: list[str], *, with_targets: bool = False
) -> Source:
    """The chosen projects serialized, what they depend on, their tenants and triggers;
    ``with_targets`` also lists the deployment targets that stay behind (for the plan)."""
    docs = read(client, space.octopus_id)
    look = docs.lookups()
    documents: dict[str, Doc] = {}
    chosen: dict[str, Doc] = {}
    for name in names:
        project = docs.projects.get(name.lower())
        if project is None:
            raise SplitError(f"No project named '{name}' in {space.name}.")
        chosen[str(project["Name"])] = project
        documents[str(project["Name"])] = P.serialize(client, space.octopus_id, project, look)
    wanted = set()
    for doc in documents.values():
        wanted |= {n.lower() for n in doc["Project"].get("LibraryVariableSets") or []}
    library_vars = {
        lower: client.get(sp(space.octopus_id, "variables", lvs["VariableSetId"]))
        for lower, lvs in docs.docs["libraryvariablesets"].items()
        if lower in wanted
    }
    envs = look.by_id.get("environments", {})
    extras = X.read_source(client, space.octopus_id, chosen, envs)
    X.add_tags(extras, X.step_tags(list(documents.values())))
    src = Source(docs, look, documents, library_vars, extras)
    if with_targets:
        ids = {look.id("environments", n) or "" for n in needed(src)["environments"]}
        extras.targets_left = X.targets_left_behind(client, space.octopus_id, ids)
    return src


def needed(src: Source) -> dict[str, set[str]]:
    """Lower names per kind the chosen projects need, with what those items need in turn."""
    need: dict[str, set[str]] = {k: set() for k in KINDS}
    for doc in src.documents.values():
        for kind, names in P.dependencies(doc).items():
            need[kind] |= {n.lower() for n in names}
    for lower in list(need["lifecycles"]):
        lifecycle = src.docs.docs["lifecycles"].get(lower) or {}
        for phase in lifecycle.get("Phases") or []:
            for ident in [
                *(phase.get("AutomaticDeploymentTargets") or []),
                *(phase.get("OptionalDeploymentTargets") or []),
            ]:
                need["environments"].add(src.docs.name_of("environments", ident).lower())
    for vset in src.library_vars.values():
        for var in vset.get("Variables") or []:
            for ident in (var.get("Scope") or {}).get("Environment") or []:
                need["environments"].add(src.docs.name_of("environments", ident).lower())
    need["environments"] |= X.environments_needed(src.extras)
    need["tagsets"] |= set(src.extras.tags)
    return need


def _sensitive_names(src: Source) -> list[str]:
    out = []
    for name, doc in src.documents.items():
        out += [f"Project {name}: {v['Name']}" for v in doc["Variables"] if v["IsSensitive"]]
    for lower, vset in src.library_vars.items():
        label = src.docs.docs["libraryvariablesets"][lower]["Name"]
        out += [
            f"Library variable set {label}: {v['Name']}"
            for v in vset.get("Variables") or []
            if v.get("IsSensitive")
        ]
    return sorted(set(out))


def compute(split: Split, src: Source, tgt: SpaceDocs) -> Doc:
    """The plan: per project and per dependency, "exists" (in the target) or "copy"."""
    ours = {n for names in (split.created, split.intended) for n in names.get("projects", [])}
    projects = []
    problems = []
    for name, doc in src.documents.items():
        exists = name.lower() in tgt.projects
        if exists and name.lower() not in ours:
            problems.append(f"A project named '{name}' already exists in {split.target.name}.")
        projects.append(
            {
                "name": name,
                "status": "copy" if not exists or name.lower() in ours else "exists",
                "steps": len(doc["Steps"]),
                "runbooks": len(doc["Runbooks"]),
                "channels": len(doc["Channels"]),
                "variables": len(doc["Variables"]),
            }
        )
    deps = []
    feeds_needing_password = []
    need = needed(src)
    lacking = X.missing_tags(src.extras, tgt.docs.get("tagsets", {}))
    for kind in KINDS:
        for lower in sorted(need[kind]):
            item = src.docs.docs[kind].get(lower)
            if item is None:  # the source refers to something it does not have
                problems.append(f"{LABELS[kind]} '{lower}' is referred to but not in the source.")
                continue
            ours = {*split.intended.get(kind, []), *split.created.get(kind, [])}
            exists = lower in tgt.docs.get(kind, {}) and lower not in ours
            dep = {
                "kind": kind,
                "label": LABELS[kind],
                "name": item["Name"],
                "status": "exists" if exists else "copy",
            }
            if exists and kind == "tagsets" and lower in lacking:
                dep.update(status="extend", add=lacking[lower])
            deps.append(dep)
            if not exists and kind == "feeds" and (item.get("Password") or {}).get("HasValue"):
                feeds_needing_password.append(f"Feed {item['Name']}: password")
    made = {*split.intended.get("tenants", []), *split.created.get("tenants", [])}
    tenants = X.plan_tenants(src.extras, tgt.tenants, made)
    triggers = {p: [t["Name"] for t in docs] for p, docs in src.extras.triggers.items() if docs}
    sets_made = {
        *split.intended.get("libraryvariablesets", []),
        *split.created.get("libraryvariablesets", []),
    }
    target_sets = {
        k: v for k, v in tgt.docs.get("libraryvariablesets", {}).items() if k not in sets_made
    }
    values = V.plan_values(src.extras.tenants, tgt.tenant_values, target_sets, made)
    channel_tags = {
        project: {ch: tags for ch, tags in chans.items() if tags}
        for project, chans in src.extras.channel_tags.items()
        if any(chans.values())
    }
    tenant_secrets = [
        f"Tenant {v['tenant']}: {v['where']}: {v['template']}"
        for v in values
        if v["status"] == "needs_value"
    ]
    return {
        "projects": projects,
        "dependencies": deps,
        "tenants": tenants,
        "triggers": triggers,
        "tenant_variables": values,
        "channel_tags": channel_tags,
        "counts": {
            "projects": len(projects),
            "copy": sum(1 for d in deps if d["status"] == "copy"),
            "exists": sum(1 for d in deps if d["status"] == "exists"),
            "extend": sum(1 for d in deps if d["status"] == "extend"),
            "tenants": len(tenants),
            "triggers": sum(len(v) for v in triggers.values()),
            "tenant_variables": sum(1 for v in values if v["status"] == "copy"),
            "channel_tags": sum(len(v) for v in channel_tags.values()),
        },
        "needs_values": sorted({*_sensitive_names(src), *feeds_needing_password, *tenant_secrets}),
        "not_carried": _not_carried(src),
        "problems": problems,
    }


def _not_carried(src: Source) -> list[str]:
    """What a split cannot move, said plainly (the plan shows it before anything runs)."""
    left = src.extras.targets_left
    targets = (
        f"{len(left)} deployment target(s) in the environments these projects use "
        f"({', '.join(left[:10])}{', …' if len(left) > 10 else ''}) stay in the source space"
        if left
        else "Deployment targets stay in the source space"
    )
    return [
        f"{targets}: a target is a tentacle or endpoint registered with the source server, "
        "so it cannot be moved. Register the targets again in the target space (or add new "
        "ones) before deploying there.",
        "Releases, deployments, runbook runs and their task logs stay in the source space: "
        "history belongs to the server that ran it. The copied projects start with none; "
        "create a release in the target space.",
        "Certificates and accounts are not copied (a variable of those types keeps its id). "
        "Sensitive tenant variable values are not copied either: Octopus never returns them "
        "(listed under 'Needs a value in the target').",
    ]
