"""Which Octopus Server versions an instance is expected to run: its own pin, or a list a
higher app sets for it.

Monitoring keeps one pin per instance (``InstanceMonitor.pinned_version``). Promotion
pipelines (rollouts, above monitoring, so it cannot be imported here) give each stage a list of
allowed versions; for the instances of such a stage that list **replaces** the pin. The app
registers a provider in its ``AppConfig.ready()``::

    from monitoring.version_rules import register
    register(my_provider)  # (instance ids or None: all) -> {instance id: Allowed}

Every place monitoring judges a version goes through :func:`off` (the console, the instance
page, the fleet cards and the "off its version pin" filter, the dashboard, the version alert).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from django.db.models import F, Q

from spaces.models import Instance


@dataclass(frozen=True)
class Allowed:
    """The versions an instance may run, and who says so (for people: "pipeline X, stage Y")."""

    source: str
    versions: tuple[str, ...]

    def __str__(self) -> str:
        return ", ".join(self.versions)


Provider = Callable[[Collection[Any] | None], Mapping[Any, Allowed]]
_providers: list[Provider] = []


def register(provider: Provider) -> None:
    if provider not in _providers:
        _providers.append(provider)


def rules(instance_ids: Collection[Any] | None = None) -> dict[Any, Allowed]:
    """instance id -> its allowed list, for the instances a provider covers (None: all).
    An instance no provider covers keeps its pin; the first provider to cover one wins."""
    found: dict[Any, Allowed] = {}
    for provider in list(_providers):
        for pk, allowed in provider(instance_ids).items():
            if allowed.versions:
                found.setdefault(pk, allowed)
    return found


def off(version: str, pin: str, rule: Allowed | None) -> bool:
    """Whether ``version`` is not what the instance should run. Under a list, an unknown
    version (not read yet) is not judged; under a pin it is, as before."""
    if rule is not None:
        return bool(version) and version not in rule.versions
    return bool(pin) and version != pin


def expected(pin: str, rule: Allowed | None) -> str:
    """What the instance should run, in words ("" when nothing is expected)."""
    if rule is not None:
        return f"{rule} ({rule.source})"
    return pin


def off_instances(found: Mapping[Any, Allowed] | None = None) -> Q:
    """A filter on Instance: those off their pin (when no list covers them) or off their
    list. Reads the versions of the covered instances once."""
    found = rules() if found is None else found
    pinned_off = (
        ~Q(monitor__pinned_version="")
        & Q(monitor__pinned_version__isnull=False)
        & ~Q(monitor__pinned_version=F("version"))
    )
    versions = Instance.objects.filter(pk__in=list(found)).values_list("pk", "version")
    listed_off = [pk for pk, version in versions if off(version, "", found[pk])]
    return (pinned_off & ~Q(pk__in=list(found))) | Q(pk__in=listed_off)
