"""Enlist, refresh, edit, rotate the key of and un-enlist Octopus instances."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.text import slugify

from audit.services import record
from identity.services import grant_rules
from identity.signals import notify_access_changed
from octopus import OctopusError
from odcm.crypto import seal
from spaces import signals
from spaces.models import Instance, Space, Tag
from spaces.services.errors import RegistryError, connected, from_octopus
from spaces.services.probe import PROBE_RETRY, Probe, check_permissions, normalise_url, probe
from spaces.services.projects import drop_projects

log = logging.getLogger(__name__)


def _summary(instance: Instance) -> dict[str, Any]:
    return {
        "name": instance.name,
        "base_url": instance.base_url,
        "region": instance.region,
        "description": instance.description,
        "enlist_new_spaces": instance.enlist_new_spaces,
    }


def _unique_slug(model: Any, base: str, taken: set[str] | None = None, **scope: Any) -> str:
    base = slugify(base)[:90] or "item"
    existing = (
        taken
        if taken is not None
        else set(
            model.objects.filter(slug__startswith=base, **scope).values_list("slug", flat=True)
        )
    )
    slug, n = base, 1
    while slug in existing:
        n += 1
        slug = f"{base}-{n}"
    existing.add(slug)
    return slug


def _check_not_enlisted(*, name: str, base_url: str, installation_id: str = "") -> None:
    if Instance.objects.filter(name__iexact=name).exists():
        raise RegistryError("name_taken", f"An instance named {name!r} is already enlisted.")
    same = Instance.objects.filter(base_url=base_url).first()
    if same is None and installation_id:
        same = Instance.objects.filter(installation_id=installation_id).first()
    if same is not None:
        raise RegistryError(
            "already_enlisted",
            f"This Octopus server is already enlisted as {same.name!r} "
            + ("(same URL)." if same.base_url == base_url else "(same InstallationId)."),
        )


def _set_tags(instance: Instance, tags: Iterable[str]) -> None:
    names = sorted({t.strip() for t in tags if t and t.strip()})
    rows = [Tag.objects.get_or_create(name=n[:50])[0] for n in names]
    instance.tags.set(rows)


def space_fields(doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": str(doc.get("Name") or doc["Id"])[:200],
        "description": str(doc.get("Description") or ""),
        "is_default": bool(doc.get("IsDefault")),
        "task_queue_stopped": bool(doc.get("TaskQueueStopped")),
    }


def enlist_instance(
    *,
    name: str,
    base_url: str,
    api_key: str,
    region: str = "",
    description: str = "",
    tags: Iterable[str] = (),
    space_ids: Iterable[str] | None = None,
    actor: Any = None,
    request: HttpRequest | None = None,
) -> Instance:
    """Connect to the server, check it, and save it with its spaces in one transaction.

    ``space_ids``: the Octopus ids of the spaces to enlist (None: all); the others are
    listed as not enlisted. Raises :class:`RegistryError`; nothing is saved then.
    """
    name = name.strip()
    if not name:
        raise RegistryError("invalid_name", "A name is required.")
    base_url = normalise_url(base_url)
    _check_not_enlisted(name=name, base_url=base_url)
    found = probe(base_url, api_key)
    _check_not_enlisted(name=name, base_url=base_url, installation_id=found.installation_id)
    chosen = None if space_ids is None else set(space_ids)
    try:
        with transaction.atomic():
            instance = _save_instance(found, name, api_key, region, description)
            _set_tags(instance, tags)
            if actor is not None and getattr(actor, "pk", None) and not actor.is_superuser:
                instance.owners.add(actor)
            _create_spaces(instance, found.spaces, chosen)
            record(
                "instance.enlist",
                actor=actor,
                request=request,
                obj=instance,
                after={**_summary(instance), "spaces": len(found.spaces)},
            )
            signals.instance_enlisted.send(sender=Instance, instance_id=instance.pk)
            grant_rules.on_fleet_changed()
    except IntegrityError:
        raise RegistryError(
            "already_enlisted", "This Octopus server was enlisted by someone else just now."
        ) from None
    return instance


def _save_instance(
    found: Probe, name: str, api_key: str, region: str, description: str
) -> Instance:
    now = timezone.now()
    instance = Instance(
        name=name,
        slug=_unique_slug(Instance, name),
        base_url=found.base_url,
        region=region.strip(),
        description=description.strip(),
        installation_id=found.installation_id,
        version=found.version,
        status=Instance.Status.ONLINE,
        status_since=now,
        last_seen_at=now,
        spaces_refreshed_at=now,
    )
    seal(instance, "api_key", api_key)
    instance.save()
    return instance


def _create_spaces(
    instance: Instance, docs: list[dict[str, Any]], chosen: set[str] | None
) -> list[Space]:
    taken: set[str] = set(instance.spaces.values_list("slug", flat=True)) if instance.pk else set()
    rows = []
    for doc in docs:
        enlisted = chosen is None or doc["Id"] in chosen
        fields = space_fields(doc)
        rows.append(
            Space(
                instance=instance,
                octopus_id=doc["Id"],
                slug=_unique_slug(Space, str(doc.get("Slug") or fields["name"]), taken),
                state=Space.State.ENLISTED if enlisted else Space.State.NOT_ENLISTED,
                **fields,
            )
        )
    return Space.objects.bulk_create(rows, batch_size=500)


@dataclass
class RefreshResult:
    added: list[str] = field(default_factory=list)
    renamed: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)
    back: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any((self.added, self.renamed, self.updated, self.gone, self.back))

    def as_dict(self) -> dict[str, list[str]]:
        return {
            "added": self.added,
            "renamed": self.renamed,
            "updated": self.updated,
            "gone": self.gone,
            "back": self.back,
        }

    def __str__(self) -> str:
        parts = [f"{len(v)} {k}" for k, v in self.as_dict().items() if v]
        return ", ".join(parts) if parts else "no changes"


def fetch_spaces(instance: Instance) -> tuple[list[dict[str, Any]], str, str]:
    """Every space of the instance from Octopus, with the server's version and id."""
    try:
        with connected(instance, retry=PROBE_RETRY) as client:
            root = client.root()
            docs = list(client.paginate("/api/spaces", page_size=200))
    except OctopusError as exc:
        raise from_octopus(exc) from None
    return docs, root.version.text, str(root.installation_id or "")


def refresh_instance(
    instance: Instance, *, actor: Any = None, request: HttpRequest | None = None
) -> RefreshResult:
    """Bring the instance's spaces in line with Octopus: new spaces appear, renamed and
    changed ones are updated, deleted ones are marked gone (never dropped)."""
    docs, version, installation_id = fetch_spaces(instance)
    if instance.installation_id and installation_id and installation_id != instance.installation_id:
        raise RegistryError(
            "installation_changed",
            f"The server at {instance.base_url} is now a different Octopus installation "
            "(its InstallationId changed). Check the URL before refreshing again.",
        )
    result = RefreshResult()
    with transaction.atomic():
        locked = Instance.objects.select_for_update().get(pk=instance.pk)
        _apply(locked, docs, result)
        locked.version = version or locked.version
        locked.spaces_refreshed_at = timezone.now()
        locked.save(update_fields=["version", "spaces_refreshed_at", "updated_at"])
        instance.version, instance.spaces_refreshed_at = locked.version, locked.spaces_refreshed_at
        if result.changed:
            record(
                "instance.refresh",
                actor=actor,
                request=request,
                obj=locked,
                after=result.as_dict(),
                message=str(result),
            )
    return result


def _apply(instance: Instance, docs: list[dict[str, Any]], result: RefreshResult) -> None:
    existing = {s.octopus_id: s for s in instance.spaces.all()}
    seen = {doc["Id"] for doc in docs}
    changed: list[Space] = []
    new_docs = []
    for doc in docs:
        space = existing.get(doc["Id"])
        if space is None:
            new_docs.append(doc)
            continue
        fields = space_fields(doc)
        if fields["name"] != space.name:
            result.renamed.append(f"{space.name} -> {fields['name']}")
        elif any(getattr(space, k) != v for k, v in fields.items()):
            result.updated.append(space.name)
        dirty = any(getattr(space, k) != v for k, v in fields.items())
        for key, value in fields.items():
            setattr(space, key, value)
        if space.state == Space.State.GONE:
            space.state = Space.State.ENLISTED
            result.back.append(space.name)
            dirty = True
        if dirty:
            changed.append(space)
    gone_ids: list[Any] = []
    for space in existing.values():
        if space.octopus_id not in seen and space.state != Space.State.GONE:
            space.state = Space.State.GONE
            result.gone.append(space.name)
            changed.append(space)
            gone_ids.append(space.pk)
    drop_projects(gone_ids)
    if changed:
        now = timezone.now()
        for space in changed:
            space.updated_at = now
        Space.objects.bulk_update(
            changed,
            ["name", "description", "is_default", "task_queue_stopped", "state", "updated_at"],
            batch_size=500,
        )
    if new_docs:
        chosen: set[str] | None = None if instance.enlist_new_spaces else set()
        created = _create_spaces(instance, new_docs, chosen)
        result.added.extend(s.name for s in created)
        for space in created:
            if space.state == Space.State.ENLISTED:
                signals.space_enlisted.send(sender=Space, space_id=space.pk)


def update_instance(
    instance: Instance,
    *,
    actor: Any = None,
    request: HttpRequest | None = None,
    tags: Iterable[str] | None = None,
    owners: Iterable[Any] | None = None,
    **changes: Any,
) -> Instance:
    """Change name, region, description, enlist_new_spaces, tags or owners (not the key:
    see :func:`rotate_api_key`; not the URL: enlist the server again)."""
    allowed = {"name", "region", "description", "enlist_new_spaces"}
    unknown = set(changes) - allowed
    if unknown:
        raise RegistryError("invalid", f"Cannot change {', '.join(sorted(unknown))} here.")
    before = {
        **_summary(instance),
        "tags": sorted(instance.tags.values_list("name", flat=True)),
    }
    name = str(changes.get("name", instance.name)).strip()
    if not name:
        raise RegistryError("invalid_name", "A name is required.")
    if Instance.objects.filter(name__iexact=name).exclude(pk=instance.pk).exists():
        raise RegistryError("name_taken", f"An instance named {name!r} is already enlisted.")
    changes["name"] = name
    with transaction.atomic():
        for key, value in changes.items():
            setattr(instance, key, value)
        instance.save()
        if tags is not None:
            _set_tags(instance, tags)
        if owners is not None:
            instance.owners.set(list(owners))
            notify_access_changed()
        after = {**_summary(instance), "tags": sorted(instance.tags.values_list("name", flat=True))}
        record("instance.update", actor=actor, request=request, obj=instance, before=before,
               after=after)  # fmt: skip
        if (before["tags"], before["region"]) != (after["tags"], after["region"]):
            # Grants and subscriptions that follow a tag or region apply again.
            grant_rules.on_fleet_changed()
            signals.instance_labels_changed.send(sender=Instance, instance_id=instance.pk)
    return instance


def rotate_api_key(
    instance: Instance, new_key: str, *, actor: Any = None, request: HttpRequest | None = None
) -> None:
    """Test ``new_key`` against the instance (same installation, enough permission), then
    store it in place of the old one. The old key stays if anything fails."""
    found = probe(instance.base_url, new_key, with_spaces=False)
    if instance.installation_id and found.installation_id != instance.installation_id:
        raise RegistryError(
            "installation_changed",
            "The server now answering at this URL is a different Octopus installation; the "
            "key was not changed.",
        )
    with transaction.atomic():
        seal(instance, "api_key", new_key)
        instance.save(update_fields=["api_key", "updated_at"])
        record(
            "instance.rotate_key",
            actor=actor,
            request=request,
            obj=instance,
            message="API key replaced after a successful test.",
        )


def change_url(
    instance: Instance,
    new_url: str,
    api_key: str,
    *,
    actor: Any = None,
    request: HttpRequest | None = None,
) -> Instance:
    """Move an instance to a new URL (a new host name, a new virtual directory).

    The stored key is never sent to the new host: the person gives the key again, it is
    checked there as enlisting checks it (an Octopus server, enough permission) and the
    server must be the same installation. Only then are the URL and key saved together.
    """
    base_url = normalise_url(new_url)
    if base_url == instance.base_url:
        return instance
    if Instance.objects.filter(base_url=base_url).exclude(pk=instance.pk).exists():
        raise RegistryError("already_enlisted", "Another instance is enlisted at this URL.")
    found = probe(base_url, api_key, with_spaces=False)
    if instance.installation_id and found.installation_id != instance.installation_id:
        raise RegistryError(
            "installation_changed",
            "The server at the new URL is a different Octopus installation; nothing changed.",
        )
    before = _summary(instance)
    with transaction.atomic():
        instance.base_url = base_url
        instance.verified_base_url = base_url
        seal(instance, "api_key", api_key)
        instance.save(update_fields=["base_url", "api_key", "updated_at"])
        record("instance.change_url", actor=actor, request=request, obj=instance,
               before=before, after=_summary(instance))  # fmt: skip
    return instance


def unenlist_instance(
    instance: Instance, *, actor: Any = None, request: HttpRequest | None = None
) -> None:
    """Remove the instance and its spaces from ODCM. Nothing changes in Octopus."""
    with transaction.atomic():
        record(
            "instance.unenlist",
            actor=actor,
            request=request,
            obj=instance,
            before={**_summary(instance), "spaces": instance.spaces.count()},
        )
        instance.delete()


__all__ = [
    "RefreshResult",
    "change_url",
    "check_permissions",
    "enlist_instance",
    "fetch_spaces",
    "refresh_instance",
    "rotate_api_key",
    "unenlist_instance",
    "update_instance",
]
