"""Planning a deployment run from the form: which spaces have the project (asked of Octopus)
and how the chosen spaces split into waves (explicit spaces, instance tag, region or a
percentage of those left: the selectors of rollout policies, with the same rules).

Finding the spaces asks each instance once per space (``GET /api/{space}/projects`` by
partial name), instances in parallel, at most ``ODCM_OCTOPUS_PER_INSTANCE_CONCURRENCY``
requests at once per instance; an instance that does not answer is reported, not fatal.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from managed.models import Downstream
from octopus.errors import OctopusError
from odcm.clients import client_for
from rollouts.models import PolicyWave
from spaces.models import Space

SEL = PolicyWave.Selector


@dataclass
class Found:
    """Spaces holding the project, and the instances that could not be asked."""

    spaces: list[Space] = field(default_factory=list)
    unreachable: list[str] = field(default_factory=list)


def spaces_with_project(candidates: Iterable[Space], project: str) -> Found:
    """The ``candidates`` (with ``instance`` selected) that have a project named ``project``
    (case-insensitive, exact)."""
    wanted = project.strip().casefold()
    by_instance: dict[Any, list[Space]] = defaultdict(list)
    for space in candidates:
        by_instance[space.instance_id].append(space)
    found = Found()
    if not wanted or not by_instance:
        return found

    def on_instance(spaces: list[Space]) -> tuple[list[Space], str]:
        instance = spaces[0].instance
        try:
            with client_for(instance) as client:

                def has(space: Space) -> bool:
                    rows = client.get_all(
                        f"/api/{space.octopus_id}/projects", {"partialName": project.strip()}
                    )
                    return any(str(p.get("Name", "")).casefold() == wanted for p in rows)

                limit = max(1, min(settings.ODCM_OCTOPUS_PER_INSTANCE_CONCURRENCY, len(spaces)))
                with ThreadPoolExecutor(max_workers=limit) as pool:
                    flags = list(pool.map(has, spaces))
        except OctopusError:
            return [], instance.name
        return [s for s, ok in zip(spaces, flags, strict=True) if ok], ""

    with ThreadPoolExecutor(max_workers=min(16, len(by_instance))) as pool:
        for spaces, failed in pool.map(on_instance, by_instance.values()):
            found.spaces.extend(spaces)
            if failed:
                found.unreachable.append(failed)
    found.spaces.sort(key=lambda s: (s.name.casefold(), s.instance.name))
    found.unreachable.sort()
    return found


@dataclass(frozen=True)
class WaveSpec:
    """One wave of the form: a selector and what it selects."""

    selector: str
    spaces: frozenset[Any] = frozenset()  # space ids, for "spaces"
    value: str = ""  # the tag or region
    percent: int = 0


def split(specs: list[WaveSpec], spaces: list[Space]) -> list[list[Space]]:
    """Split ``spaces`` (instances and their tags prefetched) into waves, in order: each wave
    takes from the spaces no earlier wave took; what no wave takes forms a last wave. A wave
    that takes nothing is left out (as in a rollout policy)."""
    return [wave for _, wave in plan(specs, spaces)]


def plan(specs: list[WaveSpec], spaces: list[Space]) -> list[tuple[WaveSpec | None, list[Space]]]:
    """:func:`split`, each wave with the spec that chose it (None: the spaces no wave took)."""
    remaining = sorted(spaces, key=lambda s: (s.name.casefold(), s.instance.name, str(s.pk)))
    waves: list[tuple[WaveSpec | None, list[Space]]] = []
    for spec in specs:
        taken = _select(spec, remaining)
        if taken:
            waves.append((spec, taken))
            chosen = {s.pk for s in taken}
            remaining = [s for s in remaining if s.pk not in chosen]
    if remaining:
        waves.append((None, remaining))
    return waves


def takes(selector: str, value: str, space: Space) -> bool:
    """Whether a wave chosen by instance tag or region takes ``space`` (instance and tags
    prefetched); waves of explicit spaces, percentages or what was left take no newcomer."""
    if selector in (SEL.TAG, SEL.REGION) and value:
        return bool(_select(WaveSpec(selector=selector, value=value), [space]))
    return False


def _select(spec: WaveSpec, remaining: list[Space]) -> list[Space]:
    if spec.selector == SEL.SPACES:
        return [s for s in remaining if s.pk in spec.spaces]
    if spec.selector == SEL.TAG:
        return [s for s in remaining if spec.value in {t.name for t in s.instance.tags.all()}]
    if spec.selector == SEL.REGION:
        region = spec.value.casefold()
        return [s for s in remaining if s.instance.region.casefold() == region]
    return remaining[: math.ceil(len(remaining) * spec.percent / 100)]


# -- the downstream copies of a template project ----------------------------------------------


def template_copies(template: Any, spaces: Iterable[Any] | None = None) -> dict[str, str]:
    """Space id -> the project's name there, for each downstream copy of ``template`` (a
    managed ``TemplateProject``) that exists in Octopus (pushed at least once), optionally
    only in ``spaces`` (a queryset or ids). A copy's name is its ``name`` override, else the
    template's."""
    rows = Downstream.objects.filter(template=template).exclude(octopus_project_id="")
    if spaces is not None:
        rows = rows.filter(space__in=spaces)
    found: dict[str, str] = {}
    for space_id, overrides in rows.values_list("space_id", "overrides"):
        name = (
            str((overrides or {}).get("name") or "").strip() if isinstance(overrides, dict) else ""
        )
        found[str(space_id)] = name or template.name
    return found
