"""Template projects: mark, snapshot into revisions, diff, downstreams with overrides, push.

The public entry points a rollout can stage in waves are :func:`queue_push` (which
downstreams, which revision) and the task body :func:`push_downstream` (one space).
"""

from __future__ import annotations

import copy
import json
import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.services import record
from managed import gates
from managed.models import Downstream, TemplateProject, TemplateRevision
from managed.services import projects as P
from managed.services.content import BlueprintInvalid
from managed.services.octopus_side import secret_digest
from managed.services.target_broker import describe
from octopus.errors import NotFound as OctopusNotFound
from octopus.pipeline import sp
from odcm.clients import client_for
from odcm.crypto import seal, unseal
from odcm.work import backoff, claim, enqueue, release
from spaces.models import Space

log = logging.getLogger(__name__)
D = Downstream.Status
WORKABLE = (D.QUEUED, D.FAILED, D.PUSHING)


class TemplateError(BlueprintInvalid):
    """A template request that cannot be done; the message says why."""


def _secrets(row: TemplateProject | Downstream) -> dict[str, str]:
    if not row.secret_values:
        return {}
    data: dict[str, str] = json.loads(unseal(row, "secret_values"))
    return data


def set_secret_values(
    row: TemplateProject | Downstream, values: dict[str, str], actor: Any = None
) -> None:
    """Seal sensitive values (template-wide, or one space's); an empty value removes one."""
    merged = {**_secrets(row), **values}
    merged = {k: v for k, v in merged.items() if v}
    seal(row, "secret_values", json.dumps(merged, sort_keys=True))
    row.save(update_fields=["secret_values"])
    record("managed.template.secrets", actor=actor, obj=row, after={"names": sorted(merged)})


def _find_project(client: Any, space_id: str, name: str) -> dict[str, Any] | None:
    for project in client.paginate(sp(space_id, "projects"), {"partialName": name}):
        if str(project["Name"]).lower() == name.lower():
            found: dict[str, Any] = project
            return found
    return None


def mark_template(space: Space, project_name: str, *, actor: Any = None) -> TemplateProject:
    """Make a project of ``space`` a template and take its first revision."""
    with client_for(space.instance) as client:
        project = _find_project(client, space.octopus_id, project_name)
        if project is None:
            raise TemplateError(f"No project named '{project_name}' in {space.name}.")
    template, _ = TemplateProject.objects.get_or_create(
        space=space,
        octopus_project_id=str(project["Id"]),
        defaults={
            "name": project["Name"],
            "created_by": actor if getattr(actor, "pk", None) else None,
        },
    )
    record("managed.template.mark", actor=actor, obj=template, after={"project": project["Name"]})
    snapshot(template, actor=actor)
    return template


def snapshot(template: TemplateProject, *, actor: Any = None) -> TemplateRevision | None:
    """Serialize the template project now; a new revision if it changed (None if not).
    Automatic downstreams are queued, on-demand ones told an update is available."""
    space = template.space
    with client_for(space.instance) as client:
        project = client.get(sp(space.octopus_id, "projects", template.octopus_project_id))
        look = P.lookups(client, space.octopus_id)
        document = P.serialize(client, space.octopus_id, project, look)
    latest = template.revisions.filter(number=template.latest_revision).first()
    if latest is not None and latest.document == document:
        return None
    with transaction.atomic():
        locked = TemplateProject.objects.select_for_update().get(pk=template.pk)
        number = locked.latest_revision + 1
        revision = TemplateRevision.objects.create(
            template=locked,
            number=number,
            document=document,
            created_by=actor if getattr(actor, "pk", None) else None,
        )
        TemplateProject.objects.filter(pk=template.pk).update(
            latest_revision=number, name=project["Name"]
        )
        template.latest_revision = number
        record("managed.template.revision", actor=actor, obj=template, after={"revision": number})
        template.downstreams.filter(mode=Downstream.Mode.ON_DEMAND).exclude(
            status__in=[D.PENDING]
        ).update(status=D.UPDATE_AVAILABLE)
    automatic = template.downstreams.filter(mode=Downstream.Mode.AUTOMATIC).exclude(
        status=D.PENDING
    )
    queue_push(template, downstream_ids=list(automatic.values_list("pk", flat=True)), gated=True)
    return revision


def diff(template: TemplateProject, old: int, new: int) -> list[dict[str, Any]]:
    """Units added, removed or changed between two revisions (0: nothing)."""
    docs = {r.number: r.document for r in template.revisions.filter(number__in=[old, new])}
    if new not in docs or (old and old not in docs):
        raise TemplateError("No such revisions.")
    a = P.units(docs.get(old) or {})
    b = P.units(docs[new])
    out = []
    for key in sorted(set(a) | set(b)):
        if key not in a:
            out.append({"key": key, "change": "added"})
        elif key not in b:
            out.append({"key": key, "change": "removed"})
        elif a[key] != b[key]:
            out.append({"key": key, "change": "changed"})
    return out


def add_downstream(
    template: TemplateProject,
    space: Space,
    *,
    overrides: dict[str, Any] | None = None,
    mode: str = Downstream.Mode.AUTOMATIC,
    actor: Any = None,
) -> Downstream:
    if space.pk == template.space_id:
        raise TemplateError("A template cannot be pushed into its own space.")
    _check_overrides(overrides or {})
    downstream, created = Downstream.objects.get_or_create(
        template=template, space=space, defaults={"overrides": overrides or {}, "mode": mode}
    )
    if not created:
        raise TemplateError(f"{space.name} already receives this template.")
    record(
        "managed.template.downstream",
        actor=actor,
        obj=template,
        after={"space": str(space.pk), "mode": mode, "overrides": sorted(overrides or {})},
    )
    return downstream


def _check_overrides(overrides: dict[str, Any]) -> None:
    allowed = {"name", "variables", "disabled_steps", "step_properties"}
    unknown = set(overrides) - allowed
    if unknown:
        raise TemplateError(f"Unknown override(s): {', '.join(sorted(unknown))}.")
    if "name" in overrides and not str(overrides["name"]).strip():
        raise TemplateError("An overriding name cannot be blank.")
    if not isinstance(overrides.get("variables", {}), dict):
        raise TemplateError("Variable overrides are a mapping of name to value.")


def effective(document: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """The revision as one space should have it: its overrides applied."""
    doc = copy.deepcopy(document)
    if overrides.get("name"):
        doc["Project"]["Name"] = str(overrides["name"]).strip()
    values = overrides.get("variables") or {}
    for var in doc["Variables"]:
        if var["Name"] in values and not var["IsSensitive"]:
            var["Value"] = values[var["Name"]]
    disabled = {s.lower() for s in overrides.get("disabled_steps") or []}
    props = {k.lower(): v for k, v in (overrides.get("step_properties") or {}).items()}
    for step in doc["Steps"]:
        for action in step["Actions"]:
            if step["Name"].lower() in disabled:
                action["IsDisabled"] = True
            action["Properties"].update(props.get(step["Name"].lower(), {}))
    return doc


# ---------------------------------------------------------------- push


def queue_push(
    template: TemplateProject,
    *,
    downstream_ids: list[Any] | None = None,
    revision: int | None = None,
    gated: bool = False,
    actor: Any = None,
) -> int:
    """Queue pushes of ``revision`` (default: the latest; a pinned downstream keeps its pin)
    to some or all downstreams, one task per space. Returns how many were queued. A push to
    every downstream (or ``gated``) passes ``managed.gates`` first."""
    rows = template.downstreams.all()
    if downstream_ids is not None:
        rows = rows.filter(pk__in=downstream_ids)
    number = revision or template.latest_revision
    ids = []
    with transaction.atomic():
        if downstream_ids is None or gated:
            # To every downstream (or a new revision's automatic ones): a rollout policy or
            # pipeline may let only its first wave through (``managed.gates``).
            keys = list(rows.values_list("pk", flat=True))
            rows = template.downstreams.filter(
                pk__in=gates.allowed(gates.TEMPLATE_PROJECT, template.pk, number, keys)
            )
        for row in rows.select_for_update():
            target = row.pinned_revision if row.mode == Downstream.Mode.PINNED else number
            if not target:
                continue
            Downstream.objects.filter(pk=row.pk).update(
                target_revision=target,
                status=D.QUEUED,
                failures=0,
                last_error="",
                next_attempt_at=timezone.now()
                + timedelta(seconds=settings.ODCM_MANAGED_CLAIM_SECONDS),
            )
            ids.append(str(row.pk))
        if ids:
            record(
                "managed.template.push",
                actor=actor,
                obj=template,
                after={"spaces": len(ids), "revision": number},
            )
    for ident in ids:
        enqueue("managed.tasks.push_downstream", ident)
    return len(ids)


def resolve(downstream: Downstream, key: str, choice: str, *, actor: Any = None) -> None:
    """Settle one conflict (take upstream, keep downstream); pushed again once all are."""
    if choice not in ("upstream", "downstream"):
        raise TemplateError("Choose upstream or downstream.")
    if key not in {c["key"] for c in downstream.conflicts}:
        raise TemplateError("No such conflict in this space.")
    resolutions = {**downstream.resolutions, key: choice}
    Downstream.objects.filter(pk=downstream.pk).update(resolutions=resolutions)
    downstream.resolutions = resolutions
    record(
        "managed.template.resolve",
        actor=actor,
        obj=downstream.template,
        after={"space": str(downstream.space_id), "key": key, "choice": choice},
    )
    if {c["key"] for c in downstream.conflicts} <= set(resolutions):
        queue_push(
            downstream.template,
            downstream_ids=[downstream.pk],
            revision=downstream.target_revision,
            actor=actor,
        )


def push_downstream(downstream_id: str) -> str:
    """Bring one space's project to its target revision (the task's body)."""
    row = (
        Downstream.objects.select_related("space__instance", "template")
        .filter(pk=downstream_id)
        .first()
    )
    if row is None or row.status not in WORKABLE or not row.target_revision:
        return "nothing to do"
    rows = Downstream.objects.filter(status__in=WORKABLE)
    lease = claim(rows, row.pk, seconds=settings.ODCM_MANAGED_CLAIM_SECONDS, status=D.PUSHING)
    if lease is None:
        return "busy"
    row.refresh_from_db()
    try:
        outcome, changes = _push(row)
    except Exception as exc:
        message = describe(exc)
        failures = row.failures + 1
        delay = backoff(
            failures,
            base=settings.ODCM_MANAGED_RETRY_BASE_SECONDS,
            cap=settings.ODCM_MANAGED_RETRY_MAX_SECONDS,
            jitter=0.1,
        )
        if release(
            Downstream.objects.all(),
            lease,
            status=D.FAILED,
            failures=failures,
            last_error=message,
            next_attempt_at=timezone.now() + timedelta(seconds=delay),
        ):
            record(
                "managed.template.push_failed",
                obj=row.template,
                after={"space": str(row.space_id)},
                message=message,
            )
            enqueue("managed.tasks.push_downstream", str(row.pk), countdown=delay, on_commit=False)
        return "failed"
    release(Downstream.objects.all(), lease, **changes)
    if outcome == "pushed":
        record(
            "managed.template.pushed",
            obj=row.template,
            after={"space": str(row.space_id), "revision": row.target_revision},
        )
    return outcome


def _push(row: Downstream) -> tuple[str, dict[str, Any]]:
    revision = TemplateRevision.objects.get(template=row.template, number=row.target_revision or 0)
    upstream = effective(revision.document, row.overrides)
    secrets = {**_secrets(row.template), **_secrets(row)}
    space_id = row.space.octopus_id
    with client_for(row.space.instance) as client:
        look = P.lookups(client, space_id, tag_sets=bool(P.tenant_tags(upstream)))
        missing = P.missing_dependencies(upstream, look)
        if missing:
            return "missing dependency", {
                "status": D.MISSING_DEPENDENCY,
                "missing": missing,
                "last_error": "",
            }
        project = None
        if row.octopus_project_id:
            try:
                project = client.get(sp(space_id, "projects", row.octopus_project_id))
            except OctopusNotFound:
                project = None
        if project is None:
            project = _find_project(client, space_id, upstream["Project"]["Name"])
        raw = P.Raw()  # what the merge is computed from, written back with its Version
        current = P.serialize(client, space_id, project, look, raw) if project else None
        target = upstream
        if current is not None:
            merged = P.merge3(row.base, P.units(upstream), P.units(current), row.resolutions)
            if merged.conflicts:
                return "conflict", {
                    "status": D.CONFLICT,
                    "conflicts": merged.conflicts,
                    "missing": [],
                }
            target = P.document(upstream["Project"]["Name"], merged.parts)
        digest = secret_digest(json.dumps(secrets, sort_keys=True)) if secrets else ""
        changed = current is None or digest != row.secrets_digest
        written = P.write(
            client,
            space_id,
            target,
            current,
            project,
            look,
            secrets,
            secrets_changed=changed,
            raw=raw,
        )
    return ("pushed" if written.writes else "unchanged"), {
        "status": D.IN_SYNC,
        "octopus_project_id": written.project_id,
        "applied_revision": row.target_revision,
        "base": P.units(upstream),
        "conflicts": [],
        "resolutions": {},
        "missing": [],
        "needs_values": P.needs_values(upstream, secrets),
        "secrets_digest": digest,
        "failures": 0,
        "last_error": "",
        "next_attempt_at": None,
        "pushed_at": timezone.now(),
    }


def sweep(requeue_after: float | None = None) -> int:
    """Periodic: re-queue due retries, lost messages and pushes whose worker died."""
    from django.db.models import Q

    from odcm.work import free

    now = timezone.now()
    wait = timedelta(
        seconds=settings.ODCM_MANAGED_CLAIM_SECONDS if requeue_after is None else requeue_after
    )
    due = Downstream.objects.filter(free(now), status__in=WORKABLE, target_revision__isnull=False)
    due = due.filter(
        Q(status=D.PUSHING) | Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    )
    ids = [str(pk) for pk in due.values_list("pk", flat=True)]
    Downstream.objects.filter(pk__in=ids).update(next_attempt_at=now + wait)
    for ident in ids:
        enqueue("managed.tasks.push_downstream", ident, on_commit=False)
    return len(ids)
