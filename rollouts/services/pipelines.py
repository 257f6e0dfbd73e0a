"""Promotion pipelines: ordered stages (dev, test, prod) a revision passes through, and the
order Octopus Server versions are expected to reach them in.

* A subject attached to a pipeline (one pipeline per subject) gets each new revision in its
  first stage only: the delivery gate (``engine.on_new_revision``) holds back every target
  in a later stage. Targets in no stage count as the last stage (nothing slips past prod).
* :func:`promote` moves a revision into stage N+1 only when stage N holds it *done*: all its
  targets delivered, then clean (no failure, no drift, no instance offline) for the stage's
  soak time. A stage with an approval group is promoted into by a member of that group only
  (promoting is the approval). (stage, subject, revision) is unique: a promotion cannot run
  twice, whoever clicks.
* :func:`tick` (the rollouts beat) moves each stage's revision from delivering to soaking to
  done (or failed) with conditional UPDATEs, and records the versions instances run.
* Versions: :func:`version_report` flags a version first seen in a stage before every earlier
  stage had it (prod before test, test before dev) and instances running a version outside
  their stage's allowed list. Instances in no pipeline keep monitoring's single pin.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Min
from django.utils import timezone

from audit.services import record
from identity.access import is_admin, user_groups
from identity.models import Group
from monitoring.services import stamp
from odcm.errors import ErrorKind, ServiceError
from rollouts import registry
from rollouts.models import (
    Pipeline,
    PipelineStage,
    PipelineSubject,
    StagePromotion,
    VersionSighting,
)
from rollouts.registry import Outcome
from spaces.models import Instance, Space

P = StagePromotion.State
SEL = PipelineStage.Selector


class PipelineError(ServiceError, ValueError):
    """A pipeline change or promotion that cannot be made; the message is for people."""


# -- defining ----------------------------------------------------------------------------


def save_pipeline(
    name: str,
    stages: list[dict[str, Any]],
    *,
    description: str = "",
    pipeline: Pipeline | None = None,
    actor: Any = None,
) -> Pipeline:
    """Create (or replace the stages of) a pipeline. Each stage: ``name``, ``selector``,
    ``spaces`` / ``instances`` (ids), ``value`` (tag or region), ``soak_seconds``,
    ``approval_group`` (a Group or None), ``allowed_versions`` (list of str)."""
    if not stages:
        raise PipelineError("A pipeline needs at least one stage.", errors={"stages": ["Empty."]})
    problems: dict[str, list[str]] = {}
    for n, stage in enumerate(stages, 1):
        sel = stage.get("selector")
        if sel not in SEL.values:
            problems[f"stages[{n}].selector"] = [f"One of {', '.join(SEL.values)}."]
        elif sel in (SEL.TAG, SEL.REGION) and not str(stage.get("value", "")).strip():
            problems[f"stages[{n}].value"] = ["A tag or region is needed."]
        elif sel == SEL.SPACES and not stage.get("spaces"):
            problems[f"stages[{n}].spaces"] = ["Choose at least one space."]
        elif sel == SEL.INSTANCES and not stage.get("instances"):
            problems[f"stages[{n}].instances"] = ["Choose at least one instance."]
    if problems:
        raise PipelineError("The stages are not valid.", errors=problems)
    with transaction.atomic():
        before = None
        if pipeline is None:
            if Pipeline.objects.filter(name=name).exists():
                raise PipelineError(
                    "A pipeline of that name exists.",
                    code="duplicate",
                    kind=ErrorKind.CONFLICT,
                    errors={"name": ["Taken."]},
                )
            pipeline = Pipeline.objects.create(name=name, description=description, created_by=actor)
        else:
            before = {"stages": [s.name for s in pipeline.stages.all()]}
            pipeline.name, pipeline.description = name, description
            pipeline.save(update_fields=["name", "description", "updated_at"])
            # Promotions belong to stages: keep the rows of stages that keep their position.
            pipeline.stages.filter(position__gt=len(stages)).delete()
        for position, data in enumerate(stages, 1):
            row, _ = PipelineStage.objects.update_or_create(
                pipeline=pipeline,
                position=position,
                defaults={
                    "name": data.get("name") or f"Stage {position}",
                    "selector": data["selector"],
                    "value": str(data.get("value", "")).strip(),
                    "soak_seconds": int(data.get("soak_seconds", 300)),
                    "approval_group": data.get("approval_group"),
                    "allowed_versions": [str(v).strip() for v in data.get("allowed_versions", [])],
                },
            )
            row.spaces.set(Space.objects.filter(pk__in=data.get("spaces") or []))
            row.instances.set(Instance.objects.filter(pk__in=data.get("instances") or []))
        record(
            "rollouts.pipeline.save",
            actor=actor,
            obj=pipeline,
            before=before,
            after={"stages": [s.get("name") or "" for s in stages]},
            message=name,
        )
        # A stage's allowed versions (and which instances the stage holds) replace version
        # pins in monitoring's judgement, whose dashboard figures are cached by a data stamp:
        # move the stamp, so the dashboard and reports show the new lists at once.
        stamp.bump()
    return pipeline


def attach(pipeline: Pipeline, kind: str, subject_id: uuid.UUID, *, actor: Any = None) -> None:
    """Send the subject's next revisions through ``pipeline`` (replacing another pipeline)."""
    if kind not in registry.names():
        raise PipelineError("No such kind.", errors={"kind": ["Unknown."]})
    with transaction.atomic():
        PipelineSubject.objects.update_or_create(
            kind=kind, subject_id=subject_id, defaults={"pipeline": pipeline}
        )
        record(
            "rollouts.pipeline.attach",
            actor=actor,
            obj=pipeline,
            after={"kind": kind, "subject_id": str(subject_id)},
        )


def detach(pipeline: Pipeline, kind: str, subject_id: uuid.UUID, *, actor: Any = None) -> bool:
    """Take the subject out of ``pipeline``: its next revisions go by its rollout policy (or
    to every target at once). What the stages already run stays; a revision still delivering
    or soaking in a stage finishes there. False when it was not in that pipeline."""
    with transaction.atomic():
        removed, _ = PipelineSubject.objects.filter(
            pipeline=pipeline, kind=kind, subject_id=subject_id
        ).delete()
        if removed:
            record(
                "rollouts.pipeline.detach",
                actor=actor,
                obj=pipeline,
                before={"kind": kind, "subject_id": str(subject_id)},
            )
    return bool(removed)


def may_define(user: Any) -> bool:
    """Pipelines span instances: administrators define them."""
    return is_admin(user)


# -- stage membership ----------------------------------------------------------------------


def _stage_spaces(stages: list[PipelineStage]) -> dict[uuid.UUID, int]:
    """space id -> position of the first stage that takes it."""
    found: dict[uuid.UUID, int] = {}
    for stage in stages:
        for pk in stage_space_ids(stage):
            found.setdefault(pk, stage.position)
    return found


def stage_space_ids(stage: PipelineStage) -> set[uuid.UUID]:
    spaces = Space.objects.all()
    if stage.selector == SEL.SPACES:
        spaces = spaces.filter(pk__in=stage.spaces.values("pk"))
    elif stage.selector == SEL.INSTANCES:
        spaces = spaces.filter(instance__in=stage.instances.values("pk"))
    elif stage.selector == SEL.TAG:
        spaces = spaces.filter(instance__tags__name=stage.value)
    else:
        spaces = spaces.filter(instance__region__iexact=stage.value)
    return set(spaces.values_list("pk", flat=True))


def stage_instance_ids(stage: PipelineStage) -> set[uuid.UUID]:
    if stage.selector == SEL.INSTANCES:
        return set(stage.instances.values_list("pk", flat=True))
    if stage.selector == SEL.SPACES:
        return set(stage.spaces.values_list("instance_id", flat=True))
    if stage.selector == SEL.TAG:
        return set(Instance.objects.filter(tags__name=stage.value).values_list("pk", flat=True))
    rows = Instance.objects.filter(region__iexact=stage.value)
    return set(rows.values_list("pk", flat=True))


def _keys_by_stage(
    stages: list[PipelineStage], kind: str, subject_id: uuid.UUID
) -> dict[int, list[uuid.UUID]]:
    """The subject's targets per stage position; targets in no stage go with the last. A
    whole-instance target (an instance baseline) is in the first stage taking its instance
    (for a stage of spaces: any of the instance's spaces)."""
    where = _stage_spaces(stages)
    last = stages[-1].position
    out: dict[int, list[uuid.UUID]] = {s.position: [] for s in stages}
    targets = registry.kind(kind).targets(subject_id)
    whole: dict[uuid.UUID, int] = {}
    if any(t.instance_id is not None for t in targets):
        for stage in stages:
            for pk in stage_instance_ids(stage):
                whole.setdefault(pk, stage.position)
    for target in targets:
        if target.instance_id is not None:
            out[whole.get(target.instance_id, last)].append(target.key)
        else:
            out[where.get(target.space_id, last)].append(target.key)
    return out


# -- revisions through the stages ------------------------------------------------------------


def on_new_revision(
    kind: str, subject_id: uuid.UUID, number: int, ids: list[uuid.UUID]
) -> list[uuid.UUID] | None:
    """The delivery gate for a subject in a pipeline: the revision enters stage 1 (which
    delivers it there) and every target of a later stage is held back. None: no pipeline."""
    link = PipelineSubject.objects.select_related("pipeline").filter(
        kind=kind, subject_id=subject_id
    )
    found = link.first()
    if found is None:
        return None
    stages = list(found.pipeline.stages.order_by("position"))
    if not stages:
        return None
    by_stage = _keys_by_stage(stages, kind, subject_id)
    first = stages[0]
    # An older revision still on its way through stage 1 is replaced by this one.
    StagePromotion.objects.filter(
        stage__pipeline=found.pipeline,
        kind=kind,
        subject_id=subject_id,
        revision__lt=number,
        state__in=(P.DELIVERING, P.SOAKING),
    ).update(state=P.SUPERSEDED, finished_at=timezone.now())
    StagePromotion.objects.get_or_create(
        stage=first,
        kind=kind,
        subject_id=subject_id,
        revision=number,
        defaults={"keys": [str(k) for k in by_stage[first.position]]},
    )
    record(
        "rollouts.pipeline.enter",
        obj=found.pipeline,
        after={"subject_id": str(subject_id), "revision": number, "stage": first.name},
    )
    held = {k for pos, keys in by_stage.items() if pos != first.position for k in keys}
    return [pk for pk in ids if pk not in held]


def refresh(promotion: StagePromotion, now: datetime | None = None) -> str:
    """One idempotent step of a revision in a stage: delivering -> soaking -> done, or
    failed on a failure, drift or an offline instance. Returns the state it is in."""
    now = now or timezone.now()
    if promotion.state not in (P.DELIVERING, P.SOAKING):
        return promotion.state
    keys = [uuid.UUID(k) for k in promotion.keys]
    outcomes = registry.kind(promotion.kind).outcomes(
        promotion.subject_id, keys, promotion.revision
    )
    bad = [k for k, o in outcomes.items() if o in (Outcome.FAILED, Outcome.DRIFTED)]
    pending = [k for k, o in outcomes.items() if o == Outcome.PENDING]
    offline = []
    if promotion.state == P.SOAKING:
        offline = list(
            Instance.objects.filter(
                spaces__pk__in=_spaces_of(promotion), status=Instance.Status.OFFLINE
            )
            .distinct()
            .values_list("name", flat=True)
        )
    rows = StagePromotion.objects.filter(pk=promotion.pk, state=promotion.state)
    if bad or offline:
        why = (
            f"{len(bad)} target(s) failed or drifted."
            if bad
            else f"Instance offline while soaking: {', '.join(sorted(offline))}."
        )
        if rows.update(state=P.FAILED, reason=why, finished_at=now):
            record(
                "rollouts.pipeline.failed",
                obj=promotion.stage.pipeline,
                after={"stage": promotion.stage.name, "revision": promotion.revision},
                message=why,
            )
    elif promotion.state == P.DELIVERING and not pending:
        until = now + timedelta(seconds=promotion.stage.soak_seconds)
        rows.update(state=P.SOAKING, soak_until=until, reason=f"Soaking until {until:%H:%M:%S}.")
    elif (
        promotion.state == P.SOAKING
        and promotion.soak_until
        and now >= promotion.soak_until
        and rows.update(state=P.DONE, reason="Soaked cleanly.", finished_at=now)
    ):
        # The conditional UPDATE won (a second worker's finds the row moved on): record once.
        record(
            "rollouts.pipeline.soaked",
            obj=promotion.stage.pipeline,
            after={"stage": promotion.stage.name, "revision": promotion.revision},
        )
    promotion.refresh_from_db()
    return promotion.state


def _spaces_of(promotion: StagePromotion) -> list[uuid.UUID]:
    """The spaces of the promotion's targets (through the kind's target list)."""
    keys = set(promotion.keys)
    return [
        t.space_id
        for t in registry.kind(promotion.kind).targets(promotion.subject_id)
        if str(t.key) in keys
    ]


def may_promote(user: Any, stage: PipelineStage, kind: str, subject_id: uuid.UUID) -> bool:
    if not registry.kind(kind).may_manage(user, subject_id) and not is_admin(user):
        return False
    if stage.approval_group_id is None:
        return True
    return user_groups(user).filter(pk=stage.approval_group_id).exists()


def promote(
    pipeline: Pipeline,
    kind: str,
    subject_id: uuid.UUID,
    revision: int,
    position: int,
    *,
    actor: Any,
) -> StagePromotion:
    """Deliver ``revision`` to stage ``position``: refused until the stage before holds it
    done (soaked cleanly), and, for a stage with an approval group, unless ``actor`` is in it."""
    if not PipelineSubject.objects.filter(
        pipeline=pipeline, kind=kind, subject_id=subject_id
    ).exists():
        raise PipelineError("That subject is not in this pipeline.", code="not_in_pipeline")
    stages = list(pipeline.stages.order_by("position"))
    stage = next((s for s in stages if s.position == position), None)
    if stage is None or position == 1:
        raise PipelineError(
            "Only a later stage is promoted into; a new revision enters the first by itself.",
            errors={"stage": ["No such later stage."]},
        )
    if not 0 < revision <= registry.kind(kind).latest_revision(subject_id):
        raise PipelineError("No such revision.", errors={"revision": ["Unknown."]})
    previous = StagePromotion.objects.filter(
        stage__pipeline=pipeline,
        stage__position=position - 1,
        kind=kind,
        subject_id=subject_id,
        revision=revision,
    ).first()
    if previous is not None:
        refresh(previous)
    if previous is None or previous.state != P.DONE:
        prior = stages[position - 2].name
        where = previous.get_state_display().lower() if previous else "not there"
        detail = f" ({previous.reason})" if previous and previous.reason else ""
        raise PipelineError(
            f"Revision {revision} has not soaked cleanly in {prior} yet: it is {where}{detail}.",
            code="not_soaked",
            kind=ErrorKind.CONFLICT,
        )
    if not may_promote(actor, stage, kind, subject_id):
        raise PipelineError(
            f"Promoting into {stage.name} needs an approval by its group.",
            code="not_approver",
            kind=ErrorKind.PERMISSION,
        )
    keys = _keys_by_stage(stages, kind, subject_id)[position]
    try:
        with transaction.atomic():
            promotion = StagePromotion.objects.create(
                stage=stage,
                kind=kind,
                subject_id=subject_id,
                revision=revision,
                keys=[str(k) for k in keys],
                promoted_by=actor,
                approved_by=actor if stage.approval_group_id else None,
                reason=f"Delivering to {len(keys)} target(s).",
            )
            registry.kind(kind).deliver(subject_id, keys, revision)
            record(
                "rollouts.pipeline.promote",
                actor=actor,
                obj=pipeline,
                after={"stage": stage.name, "revision": revision, "targets": len(keys)},
                message=registry.kind(kind).label(subject_id),
            )
    except IntegrityError:
        raise PipelineError(
            f"Revision {revision} is already in {stage.name}.",
            code="already_promoted",
            kind=ErrorKind.CONFLICT,
        ) from None
    return promotion


def tick(now: datetime | None = None) -> int:
    """Periodic: step every moving promotion; note the versions instances run."""
    moving = StagePromotion.objects.filter(state__in=(P.DELIVERING, P.SOAKING))
    count = 0
    for promotion in moving.select_related("stage__pipeline"):
        refresh(promotion, now)
        count += 1
    observe_versions(now)
    return count


# -- the board ---------------------------------------------------------------------------------


def board(pipeline: Pipeline, subjects: Iterable[PipelineSubject]) -> list[dict[str, Any]]:
    """Per subject, per stage: the newest revision the stage holds and its state."""
    stages = list(pipeline.stages.order_by("position"))
    rows = []
    for link in subjects:
        kind = registry.kind(link.kind)
        promotions = StagePromotion.objects.filter(
            stage__pipeline=pipeline, kind=link.kind, subject_id=link.subject_id
        ).exclude(state=P.SUPERSEDED)
        newest: dict[int, StagePromotion] = {}
        for p in promotions.select_related("stage").order_by("-revision"):
            newest.setdefault(p.stage.position, p)
        rows.append(
            {
                "kind": link.kind,
                "subject_id": link.subject_id,
                "label": kind.label(link.subject_id),
                "url": kind.url(link.subject_id),
                "latest_revision": kind.latest_revision(link.subject_id),
                "stages": [
                    {
                        "position": s.position,
                        "name": s.name,
                        "revision": newest[s.position].revision if s.position in newest else None,
                        "state": newest[s.position].state if s.position in newest else "",
                        "reason": newest[s.position].reason if s.position in newest else "",
                    }
                    for s in stages
                ],
            }
        )
    return rows


# -- Octopus Server versions ------------------------------------------------------------------


def observe_versions(now: datetime | None = None) -> int:
    """Note, once, when each instance was first seen running its current version."""
    now = now or timezone.now()
    rows = Instance.objects.exclude(version="").values_list("pk", "version")
    before = VersionSighting.objects.count()
    # ignore_conflicts: a version already seen keeps its first sighting (several beats agree).
    VersionSighting.objects.bulk_create(
        [VersionSighting(instance_id=pk, version=v, first_seen_at=now) for pk, v in rows],
        ignore_conflicts=True,
    )
    return VersionSighting.objects.count() - before


def version_report(pipeline: Pipeline) -> dict[str, Any]:
    """Where each version was first seen per stage, the versions seen out of order, and the
    instances running a version their stage does not allow."""
    stages = list(pipeline.stages.order_by("position"))
    members = {s.position: stage_instance_ids(s) for s in stages}
    seen: dict[str, dict[int, datetime]] = {}
    for s in stages:
        firsts = (
            VersionSighting.objects.filter(instance__in=members[s.position])
            .values("version")
            .annotate(first=Min("first_seen_at"))
        )
        for row in firsts:
            seen.setdefault(row["version"], {})[s.position] = row["first"]
    flagged = []
    for version, at in sorted(seen.items()):
        for s in stages:
            if s.position not in at:
                continue
            early = [
                e.name
                for e in stages
                if e.position < s.position
                and (e.position not in at or at[e.position] > at[s.position])
            ]
            if early:
                flagged.append(
                    {
                        "version": version,
                        "stage": s.name,
                        "reason": f"seen in {s.name} before {', '.join(early)}",
                    }
                )
    off_list: list[dict[str, Any]] = []
    for s in stages:
        if not s.allowed_versions:
            continue
        rows = Instance.objects.filter(pk__in=members[s.position]).exclude(
            version__in=[*s.allowed_versions, ""]
        )
        off_list.extend(
            {
                "instance": i.name,
                "version": i.version,
                "stage": s.name,
                "allowed": s.allowed_versions,
            }
            for i in rows.order_by("name")
        )
    return {
        "versions": [
            {
                "version": v,
                "first_seen": {s.name: at[s.position] for s in stages if s.position in at},
            }
            for v, at in sorted(seen.items())
        ],
        "flagged": flagged,
        "not_allowed": off_list,
    }


def group_by_slug(slug: str | None) -> Group | None:
    if not slug:
        return None
    found = Group.objects.filter(slug=slug).first()
    if found is None:
        raise PipelineError("No such group.", errors={"approval_group": ["No such group."]})
    return found
