"""Splitting a space: chosen projects, and everything they depend on, copied into another
space (new or existing, on the same or another instance), verified, then optionally taken
out of the source.

It reuses the template projects' serializer (``projects``): a project is read as a
name-based document, its dependencies are those the document names (environments,
lifecycles, library variable sets, step templates, feeds, project groups, worker pools)
plus what they in turn name (a lifecycle's environments, a library set's scopes). The plan
marks each "exists in target" or "will be copied", matched by name
(:mod:`managed.services.split_plan`); the projects' tenants, channel tenant tags and
triggers go with them (:mod:`managed.services.split_extras`), and the tenants' variable
values (:mod:`managed.services.split_values`). Running it (a worker holding the :class:`Split`
row's lease) copies the dependencies first, then the projects, their tenants and
triggers, then serializes source and target projects and compares them; only a clean
comparison, and only if the person asked, disables or deletes the source projects.

Nothing is created twice: names to be created are written down (``intended``) before the
first POST, every item is matched by name again on a retry, and a project found in the
target is adopted only if this split meant to create it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.services import record
from managed.models import Split
from managed.services import projects as P
from managed.services import split_extras as X
from managed.services import split_values as V
from managed.services.split_plan import (
    Source,
    SpaceDocs,
    SplitError,
    compute,
    read,
    read_source,
    read_target,
)
from managed.services.target_broker import describe
from octopus import OctopusClient
from octopus.pipeline import sp
from odcm.clients import client_for
from odcm.work import Lease, backoff, claim, enqueue, free, mine, release
from spaces.models import Space

log = logging.getLogger(__name__)
S = Split.Status
WORKABLE = (S.QUEUED, S.FAILED, S.RUNNING)
Doc = dict[str, Any]

MAX_ATTEMPTS = 5  # a split that keeps failing stops and shows its error
_DROP = {"Id", "Links", "SpaceId", "LastModifiedOn", "LastModifiedBy", "Slug"}


def create_split(
    source: Space,
    target: Space,
    project_names: list[str],
    *,
    source_action: str = Split.SourceAction.KEEP,
    actor: Any = None,
) -> Split:
    """Plan a split (reads both spaces) and keep it; nothing is written to Octopus."""
    names = [n.strip() for n in project_names if n and n.strip()]
    if not names:
        raise SplitError("Choose at least one project to move.")
    if len({n.lower() for n in names}) != len(names):
        raise SplitError("A project is named twice.")
    if source.pk == target.pk:
        raise SplitError("The target must be another space.")
    if source_action not in Split.SourceAction.values:
        raise SplitError("Choose keep, disable or delete for the source projects.")
    split = Split(
        source=source,
        target=target,
        projects=names,
        source_action=source_action,
        created_by=actor if getattr(actor, "pk", None) else None,
    )
    with client_for(source.instance) as client:
        src = read_source(client, source, names, with_targets=True)
    split.projects = list(src.documents)  # as Octopus spells them
    with client_for(target.instance) as client:
        tgt = read_target(client, target.octopus_id, src)
    split.plan = compute(split, src, tgt)
    split.needs_values = split.plan["needs_values"]
    split.status = S.BLOCKED if split.plan["problems"] else S.PLANNED
    split.save()
    record(
        "managed.split.plan",
        actor=actor,
        obj=split,
        after={
            "source": str(source.pk),
            "target": str(target.pk),
            "projects": split.projects,
            "source_action": source_action,
            **split.plan["counts"],
        },
    )
    return split


def queue_run(split: Split, *, actor: Any = None) -> bool:
    """Queue the copy (after commit). False when it cannot run (blocked or finished)."""
    with transaction.atomic():
        won = Split.objects.filter(
            pk=split.pk, status__in=[S.PLANNED, S.FAILED, S.MISMATCH]
        ).update(
            status=S.QUEUED,
            failures=0,
            last_error="",
            next_attempt_at=timezone.now() + timedelta(seconds=settings.ODCM_MANAGED_CLAIM_SECONDS),
        )
        if won:
            record("managed.split.run", actor=actor, obj=split, after={"projects": split.projects})
    if won:
        enqueue("managed.tasks.run_split", str(split.pk))
    return bool(won)


# ---------------------------------------------------------------- copy


def _body(kind: str, doc: Doc, src: SpaceDocs, look: P.Lookups) -> Doc:
    """The source item as a POST body for the target: ids translated by name."""
    out = {k: v for k, v in doc.items() if k not in _DROP}

    def env(ident: str) -> str:
        return look.id("environments", src.name_of("environments", ident)) or ident

    if kind == "lifecycles":
        out["Phases"] = [
            {
                **{k: v for k, v in phase.items() if k != "Id"},
                "AutomaticDeploymentTargets": [
                    env(e) for e in phase.get("AutomaticDeploymentTargets") or []
                ],
                "OptionalDeploymentTargets": [
                    env(e) for e in phase.get("OptionalDeploymentTargets") or []
                ],
            }
            for phase in doc.get("Phases") or []
        ]
    elif kind == "feeds":
        out.pop("Password", None)  # Octopus never returns it: listed as needing a value
    elif kind == "libraryvariablesets":
        out = {k: out[k] for k in ("Name", "Description", "ContentType") if k in out}
        # its variable templates (the target gives them ids; tenant values follow by name)
        out["Templates"] = [
            {k: v for k, v in t.items() if k != "Id"} for t in doc.get("Templates") or []
        ]
    elif kind == "actiontemplates":
        out.pop("Version", None)
        out.pop("CommunityActionTemplateId", None)
        out["Packages"] = [
            {**p, "FeedId": look.id("feeds", src.name_of("feeds", p.get("FeedId") or ""))}
            for p in doc.get("Packages") or []
        ]
    elif kind == "workerpools":
        out.pop("IsDefault", None)
    elif kind == "tagsets":
        out.pop("SortOrder", None)
        out["Tags"] = [
            {k: v for k, v in t.items() if k in ("Name", "Color", "Description", "SortOrder")}
            for t in doc.get("Tags") or []
        ]
    return out


def _copy_library_variables(
    client: OctopusClient, space_id: str, created: Doc, source_vars: Doc, src: Source, look: Any
) -> None:
    path = sp(space_id, "variables", created["VariableSetId"])
    vset = client.get(path)
    out = []
    for var in source_vars.get("Variables") or []:
        scope = dict(var.get("Scope") or {})
        if "Environment" in scope:
            scope["Environment"] = [
                look.id("environments", src.docs.name_of("environments", e)) or e
                for e in scope["Environment"]
            ]
        body = {k: v for k, v in var.items() if k not in ("Id", "Scope")}
        if var.get("IsSensitive"):
            body["Value"] = None  # never returned by Octopus: "needs a value"
        out.append({**body, "Scope": scope})
    vset["Variables"] = out
    client.put(path, vset)


@dataclass
class Progress:
    """What this run has created (kept on the row as it happens)."""

    split: Split
    lease: Lease
    created: dict[str, list[str]]

    def note(self, kind: str, lower: str) -> None:
        names = self.created.setdefault(kind, [])
        if lower not in names:
            names.append(lower)
        if not mine(Split.objects.all(), self.lease).update(created=self.created):
            raise LostLease()


class LostLease(Exception):
    def __str__(self) -> str:
        return "The copy took longer than its lease; another attempt took over."


def _start(split: Split, lease: Lease, src: Source, tgt: SpaceDocs) -> Doc:
    """Adopt what an earlier, interrupted attempt created but could not write down; plan
    again on fresh reads; write down what is about to be created. Returns the plan."""
    created = {k: list(v) for k, v in (split.created or {}).items()}
    for kind, names in (split.intended or {}).items():
        have = {"projects": tgt.projects, "tenants": tgt.tenants}.get(kind) or tgt.docs.get(
            kind, {}
        )
        for lower in names:
            if lower in have and lower not in created.get(kind, []):
                created.setdefault(kind, []).append(lower)
    split.created = created
    plan = compute(split, src, tgt)
    if plan["problems"]:
        raise SplitError(" ".join(plan["problems"]))
    intended: dict[str, list[str]] = {}
    for dep in plan["dependencies"]:
        if dep["status"] == "copy" and dep["name"].lower() not in created.get(dep["kind"], []):
            intended.setdefault(dep["kind"], []).append(dep["name"].lower())
    intended["projects"] = [p["name"].lower() for p in plan["projects"]]
    intended["tenants"] = [
        t["name"].lower()
        for t in plan["tenants"]
        if t["status"] == "copy" and t["name"].lower() not in created.get("tenants", [])
    ]
    if not mine(Split.objects.all(), lease).update(intended=intended, created=created, plan=plan):
        raise LostLease()
    return plan


def _copy(split: Split, lease: Lease) -> Doc:
    """Dependencies first, then the projects; then the verification."""
    with client_for(split.source.instance) as sclient:
        src = read_source(sclient, split.source, split.projects, with_targets=True)
    tid = split.target.octopus_id
    with client_for(split.target.instance) as tclient:
        tgt = read_target(tclient, tid, src)
        plan = _start(split, lease, src, tgt)
        progress = Progress(split, lease, split.created)
        for dep in plan["dependencies"]:
            kind, lower = dep["kind"], dep["name"].lower()
            if dep["status"] == "extend":
                tgt.docs[kind][lower] = X.extend_tagset(
                    tclient, tid, tgt.docs[kind][lower], dep["add"]
                )
                continue
            if dep["status"] != "copy" or lower in tgt.docs[kind]:
                continue  # in the target already (or adopted from an earlier attempt)
            look = tgt.lookups()
            body = _body(kind, src.docs.docs[kind][lower], src.docs, look)
            saved = tgt.docs[kind][lower] = tclient.post(sp(tid, kind), body)
            if kind == "libraryvariablesets" and lower in src.library_vars:
                _copy_library_variables(tclient, tid, saved, src.library_vars[lower], src, look)
            progress.note(kind, lower)
        look = tgt.lookups()
        project_ids: dict[str, str] = {}
        for name, doc in src.documents.items():
            project = tgt.projects.get(name.lower())
            current = P.serialize(tclient, tid, project, look) if project else None
            project_ids[name] = P.write(tclient, tid, doc, current, project, look, {}).project_id
            if project is None:
                progress.note("projects", name.lower())
        _copy_extras(tclient, tid, src, tgt, look, project_ids, progress)
    return verify(split)


def _copy_extras(
    client: OctopusClient,
    space_id: str,
    src: Source,
    tgt: SpaceDocs,
    look: P.Lookups,
    project_ids: dict[str, str],
    progress: Progress,
) -> None:
    """The channels' tenant tags; the tenants (created, or connected if the target has
    them) and their variable values; then the triggers."""
    for name, pid in project_ids.items():
        X.write_channel_tags(client, space_id, pid, src.extras.channel_tags.get(name) or {})
    names = X.names_of(look.by_id.get("environments", {}), list(tgt.tenants.values()))
    for lower, doc in src.extras.tenants.items():
        current = tgt.tenants.get(lower)
        saved = X.write_tenant(client, space_id, doc, current, project_ids, names)
        if saved is not None:
            tgt.tenants[lower] = saved
            names.tenants[str(saved["Id"])] = str(saved["Name"])
        if current is None:
            progress.note("tenants", lower)
        ours = lower in progress.created.get("tenants", [])
        tenant_id = str(tgt.tenants[lower]["Id"])
        V.write_values(client, space_id, doc, tenant_id, project_ids, names.env_id, ours=ours)
    for name, pid in project_ids.items():
        X.write_triggers(client, space_id, name, pid, src.extras.triggers.get(name, []), names)


def verify(split: Split) -> Doc:
    """Serialize source and target projects (fresh reads) and compare them unit by unit;
    ids are not in the documents (everything is by name). {project: [differences]}."""
    source, target = split.source, split.target
    with client_for(source.instance) as sclient:
        fresh = read_source(sclient, source, split.projects)
    out: Doc = {}
    with client_for(target.instance) as tclient:
        tgt = read(tclient, target.octopus_id)
        look = tgt.lookups()
        copies = {n: tgt.projects[n.lower()] for n in fresh.documents if n.lower() in tgt.projects}
        envs = look.by_id.get("environments", {})
        carried = X.read_source(tclient, target.octopus_id, copies, envs)
        for name, doc in fresh.documents.items():
            project = copies.get(name)
            if project is None:
                out[name] = [{"key": "project", "change": "missing in target"}]
                continue
            theirs = P.units(P.serialize(tclient, target.octopus_id, project, look))
            theirs |= X.target_units(carried, fresh.extras, name)
            ours = P.units(doc) | X.units(fresh.extras, name)
            diffs = []
            for key in sorted(set(ours) | set(theirs)):
                if key not in theirs:
                    diffs.append({"key": key, "change": "missing in target"})
                elif key not in ours:
                    diffs.append({"key": key, "change": "only in target"})
                elif not P._same(ours[key], theirs[key]):
                    diffs.append({"key": key, "change": "differs"})
            out[name] = diffs
    return out


def _finish_source(split: Split) -> str:
    """Disable or delete the source projects (only after a clean verification)."""
    if split.source_action == Split.SourceAction.KEEP:
        return ""
    sid = split.source.octopus_id
    with client_for(split.source.instance) as client:
        projects = {str(d["Name"]).lower(): d for d in client.get_all(sp(sid, "projects"))}
        for name in split.projects:
            project = projects.get(name.lower())
            if project is None:
                continue  # deleted by an earlier attempt
            if split.source_action == Split.SourceAction.DELETE:
                client.delete(sp(sid, "projects", project["Id"]))
            elif not project.get("IsDisabled"):
                client.put(sp(sid, "projects", project["Id"]), {**project, "IsDisabled": True})
    return "deleted" if split.source_action == Split.SourceAction.DELETE else "disabled"


def run_split(split_id: str) -> str:
    """Copy, verify and (if asked and clean) retire the source projects: the task's body."""
    split = Split.objects.select_related("source__instance", "target__instance").filter(pk=split_id)
    row = split.first()
    if row is None or row.status not in WORKABLE:
        return "nothing to do"
    rows = Split.objects.filter(status__in=WORKABLE)
    lease = claim(rows, row.pk, seconds=settings.ODCM_MANAGED_CLAIM_SECONDS, status=S.RUNNING)
    if lease is None:
        return "busy"
    row.refresh_from_db()
    try:
        found = _copy(row, lease)
        clean = not any(found.values())
        done = _finish_source(row) if clean else ""
    except Exception as exc:
        return _failed(row, lease, exc)
    status = S.VERIFIED if clean else S.MISMATCH
    row.refresh_from_db(fields=["created"])
    if not release(
        Split.objects.all(),
        lease,
        status=status,
        verification=found,
        source_done=done,
        intended={},
        failures=0,
        last_error="",
        next_attempt_at=None,
        finished_at=timezone.now(),
    ):
        return "lost lease"
    record(
        "managed.split.verified" if clean else "managed.split.mismatch",
        obj=row,
        after={
            "projects": row.projects,
            "created": {k: len(v) for k, v in row.created.items()},
            "differences": sum(len(v) for v in found.values()),
            "source": done or "kept",
        },
    )
    return str(status)


def _failed(row: Split, lease: Lease, exc: Exception) -> str:
    message = str(exc) if isinstance(exc, LostLease | SplitError) else describe(exc)
    log.warning("managed: split %s failed: %s", row.pk, message)
    failures = row.failures + 1
    delay = backoff(
        failures,
        base=settings.ODCM_MANAGED_RETRY_BASE_SECONDS,
        cap=settings.ODCM_MANAGED_RETRY_MAX_SECONDS,
        jitter=0.1,
    )
    retry = not isinstance(exc, SplitError) and failures < MAX_ATTEMPTS
    if release(
        Split.objects.all(),
        lease,
        status=S.FAILED,
        failures=failures,
        last_error=message,
        next_attempt_at=timezone.now() + timedelta(seconds=delay) if retry else None,
    ):
        record("managed.split.failed", obj=row, after={"failures": failures}, message=message)
        if retry:
            enqueue("managed.tasks.run_split", str(row.pk), countdown=delay, on_commit=False)
    return "failed"


def sweep() -> int:
    """Periodic: retries that are due and copies whose worker died (lease ran out)."""
    from django.db.models import Q

    now = timezone.now()
    due = Split.objects.filter(free(now), status__in=WORKABLE, next_attempt_at__isnull=False)
    due = due.filter(Q(status=S.RUNNING) | Q(next_attempt_at__lte=now))
    ids = [str(pk) for pk in due.values_list("pk", flat=True)]
    Split.objects.filter(pk__in=ids).update(
        next_attempt_at=now + timedelta(seconds=settings.ODCM_MANAGED_CLAIM_SECONDS)
    )
    for ident in ids:
        enqueue("managed.tasks.run_split", ident, on_commit=False)
    return len(ids)
