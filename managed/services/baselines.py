"""Instance baselines: create, save a revision, assign to instances (all, by tag, by region,
explicit). Only administrators manage them (they change instance-wide settings)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils.text import slugify

from audit.services import record
from managed.models import BaselineRevision, BaselineTarget, InstanceBaseline
from managed.services import revisions
from managed.services.baseline_content import BaselineInvalid, normalize
from spaces.models import Instance, Tag


def _summary(content: dict[str, Any]) -> dict[str, Any]:
    return {"parts": sorted(content)}


REVISIONS = revisions.Revisions[InstanceBaseline, BaselineRevision](
    BaselineRevision, "baseline", normalize, _summary
)
secrets_of = revisions.secrets_of
latest = REVISIONS.latest
save_revision = REVISIONS.save


def create_baseline(
    name: str,
    document: Any,
    *,
    description: str = "",
    on_drift: str = InstanceBaseline.OnDrift.REPORT,
    actor: Any = None,
) -> InstanceBaseline:
    """A new baseline with its first revision; BaselineInvalid names what is wrong."""
    name = (name or "").strip()
    if not name:
        raise BaselineInvalid("A name is required.")
    if len(name) > 100:
        raise BaselineInvalid("The name is longer than 100 characters.")
    if InstanceBaseline.objects.filter(name__iexact=name).exists():
        raise BaselineInvalid(f"A baseline named '{name}' exists already.")
    if on_drift not in InstanceBaseline.OnDrift.values:
        raise BaselineInvalid("on_drift must be 'report' or 'reapply'.")
    content, secrets = normalize(document)
    with transaction.atomic():
        baseline = InstanceBaseline.objects.create(
            name=name,
            slug=slugify(name)[:100] or "baseline",
            description=description,
            on_drift=on_drift,
            created_by=actor if getattr(actor, "pk", None) else None,
        )
        REVISIONS.new(baseline, content, secrets, "", actor)
        record(
            "managed.baseline.create",
            actor=actor,
            obj=baseline,
            after={"name": name, "revision": 1, **_summary(content)},
        )
    return baseline


def _taken(baseline: InstanceBaseline, instances: list[Instance]) -> list[str]:
    held = BaselineTarget.objects.filter(instance__in=instances).exclude(baseline=baseline)
    return sorted(held.values_list("instance__name", flat=True))


def assign(
    baseline: InstanceBaseline, instances: list[Instance], *, actor: Any = None
) -> list[BaselineTarget]:
    """Assign the baseline to ``instances`` explicitly (existing targets are kept). An
    instance that follows another baseline is refused by name."""
    taken = _taken(baseline, instances)
    if taken:
        raise BaselineInvalid(f"Already following another baseline: {', '.join(taken)}.")
    made = []
    with transaction.atomic():
        for instance in instances:
            target, created = BaselineTarget.objects.get_or_create(
                baseline=baseline,
                instance=instance,
                defaults={"via": BaselineTarget.Via.EXPLICIT},
            )
            if created:
                made.append(target)
        if made:
            record(
                "managed.baseline.assign",
                actor=actor,
                obj=baseline,
                after={"instances": [str(t.instance_id) for t in made]},
            )
    return made


def set_rules(
    baseline: InstanceBaseline,
    *,
    all_instances: bool = False,
    tags: list[str] | None = None,
    regions: list[str] | None = None,
    actor: Any = None,
) -> list[BaselineTarget]:
    """Assign to every instance, or by instance tag and region; returns the targets added."""
    tags = [t.strip() for t in tags or [] if t.strip()]
    found = list(Tag.objects.filter(name__in=tags))
    missing = sorted(set(tags) - {t.name for t in found})
    if missing:
        raise BaselineInvalid(f"No such instance tag: {', '.join(missing)}.")
    with transaction.atomic():
        baseline.instance_tags.set(found)
        baseline.all_instances = all_instances
        baseline.regions = sorted({r.strip() for r in regions or [] if r.strip()})
        baseline.save(update_fields=["all_instances", "regions", "updated_at"])
        record(
            "managed.baseline.rules",
            actor=actor,
            obj=baseline,
            after={"all": all_instances, "tags": sorted(tags), "regions": baseline.regions},
        )
        return sync_targets(baseline)


def sync_targets(baseline: InstanceBaseline) -> list[BaselineTarget]:
    """Add a target for every instance the rules match and no baseline follows yet (an
    instance enlisted later is picked up by the next call: the sweep calls this)."""
    tags = list(baseline.instance_tags.values_list("pk", flat=True))
    if baseline.all_instances:
        rule = Q()
    else:
        rule = Q(pk__in=[])
        if tags:
            rule |= Q(tags__in=tags)
        if baseline.regions:
            rule |= Q(region__in=baseline.regions)
    instances = Instance.objects.filter(rule).exclude(baseline_targets__isnull=False).distinct()
    made = []
    for instance in instances:
        if baseline.all_instances:
            via = BaselineTarget.Via.ALL
        elif instance.region in baseline.regions:
            via = BaselineTarget.Via.REGION
        else:
            via = BaselineTarget.Via.TAG
        target, created = BaselineTarget.objects.get_or_create(
            instance=instance, defaults={"baseline": baseline, "via": via}
        )
        if created:
            made.append(target)
    return made


def unassign(target: BaselineTarget, *, actor: Any = None) -> None:
    """Stop managing an instance (nothing in Octopus is changed)."""
    REVISIONS.unassign(target, "instance", actor=actor)


def update_settings(
    baseline: InstanceBaseline,
    *,
    description: str | None = None,
    on_drift: str | None = None,
    actor: Any = None,
) -> None:
    if on_drift is not None and on_drift not in InstanceBaseline.OnDrift.values:
        raise BaselineInvalid("on_drift must be 'report' or 'reapply'.")
    REVISIONS.update_settings(baseline, description=description, on_drift=on_drift, actor=actor)
