"""Blueprints: create, save a revision, assign to spaces (explicit, by instance tag, by region)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils.text import slugify

from audit.services import record
from managed.models import Blueprint, BlueprintRevision, BlueprintTarget
from managed.services.content import BlueprintInvalid, normalize
from managed.services.revisions import Revisions
from spaces.models import Space, Tag


def _summary(content: dict[str, Any]) -> dict[str, Any]:
    return {"kinds": {kind: len(items) for kind, items in content.items() if items}}


REVISIONS = Revisions[Blueprint, BlueprintRevision](
    BlueprintRevision, "blueprint", normalize, _summary
)

latest = REVISIONS.latest
save_revision = REVISIONS.save
update_settings = REVISIONS.update_settings


def create_blueprint(
    name: str,
    document: Any,
    *,
    description: str = "",
    management_space: Space | None = None,
    on_drift: str = Blueprint.OnDrift.REPORT,
    actor: Any = None,
) -> Blueprint:
    """A new blueprint with its first revision; BlueprintInvalid names what is wrong."""
    name = (name or "").strip()
    if not name:
        raise BlueprintInvalid("A name is required.")
    if Blueprint.objects.filter(name__iexact=name).exists():
        raise BlueprintInvalid(f"A blueprint named '{name}' exists already.")
    content, secrets = normalize(document)
    with transaction.atomic():
        blueprint = Blueprint.objects.create(
            name=name,
            slug=slugify(name)[:100] or "blueprint",
            description=description,
            management_space=management_space,
            on_drift=on_drift,
            created_by=actor if getattr(actor, "pk", None) else None,
        )
        REVISIONS.new(blueprint, content, secrets, "", actor)
        record(
            "managed.blueprint.create",
            actor=actor,
            obj=blueprint,
            after={"name": name, "revision": 1, **_summary(content)},
        )
    return blueprint


def assign(
    blueprint: Blueprint, spaces: list[Space], *, actor: Any = None
) -> list[BlueprintTarget]:
    """Assign the blueprint to ``spaces`` explicitly (existing targets are kept)."""
    made = []
    with transaction.atomic():
        for space in spaces:
            if blueprint.management_space_id == space.pk:
                raise BlueprintInvalid(
                    f"'{space.name}' is the blueprint's management space; it cannot be a target."
                )
            target, created = BlueprintTarget.objects.get_or_create(
                blueprint=blueprint, space=space, defaults={"via": BlueprintTarget.Via.EXPLICIT}
            )
            if created:
                made.append(target)
        if made:
            record(
                "managed.blueprint.assign",
                actor=actor,
                obj=blueprint,
                after={"spaces": [str(t.space_id) for t in made]},
            )
    return made


def set_rules(
    blueprint: Blueprint, *, tags: list[str], regions: list[str], actor: Any = None
) -> list[BlueprintTarget]:
    """Assign by instance tag and region; returns the targets this added."""
    found = list(Tag.objects.filter(name__in=tags))
    missing = sorted(set(tags) - {t.name for t in found})
    if missing:
        raise BlueprintInvalid(f"No such instance tag: {', '.join(missing)}.")
    with transaction.atomic():
        blueprint.instance_tags.set(found)
        blueprint.regions = sorted({r.strip() for r in regions if r.strip()})
        blueprint.save(update_fields=["regions", "updated_at"])
        record(
            "managed.blueprint.rules",
            actor=actor,
            obj=blueprint,
            after={"tags": sorted(tags), "regions": blueprint.regions},
        )
        return sync_targets(blueprint)


def sync_targets(blueprint: Blueprint) -> list[BlueprintTarget]:
    """Add a target for every enlisted space the tag and region rules match (a space that
    appears later is picked up by the next call: the sweep calls this)."""
    tags = list(blueprint.instance_tags.values_list("pk", flat=True))
    rule = Q(pk__in=[])
    if tags:
        rule |= Q(instance__tags__in=tags)
    if blueprint.regions:
        rule |= Q(instance__region__in=blueprint.regions)
    spaces = (
        Space.objects.filter(rule, state=Space.State.ENLISTED)
        .exclude(blueprint_targets__blueprint=blueprint)
        .distinct()
    )
    if blueprint.management_space_id is not None:
        spaces = spaces.exclude(pk=blueprint.management_space_id)
    made = []
    for space in spaces.select_related("instance"):
        region = space.instance.region in blueprint.regions
        via = BlueprintTarget.Via.REGION if region else BlueprintTarget.Via.TAG
        target, created = BlueprintTarget.objects.get_or_create(
            blueprint=blueprint, space=space, defaults={"via": via}
        )
        if created:
            made.append(target)
    return made


def unassign(target: BlueprintTarget, *, actor: Any = None) -> None:
    """Stop managing a space (nothing in Octopus is deleted)."""
    REVISIONS.unassign(target, "space", actor=actor)
