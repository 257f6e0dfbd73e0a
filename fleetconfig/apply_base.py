"""What every apply handler shares: the declared document looked up by name, the record of
what an apply created, and finding the rows a change names (split from ``apply``)."""

from __future__ import annotations

from typing import Any

from fleetconfig.accounts import service_account_username
from fleetconfig.models import ManagedObject
from fleetconfig.plan import Change
from fleetconfig.state import objects
from identity.models import User
from spaces.models import Instance, Space


class ApplyError(Exception):
    """One object could not be applied; the message is for a person and holds no secret."""


class Source:
    """The declared document, looked up by name."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.instances = {i["name"]: i for i in data.get("instances") or []}
        self.items = {
            (i["publisher"]["instance"], i["publisher"]["space"], i["kind"], i["name"]): i
            for i in data.get("shared_items") or []
        }
        # Service accounts the file declares, by username: a group may list one as a member
        # before it exists (the account is made after its owner group, then joins it).
        self.service_accounts = {
            service_account_username(a["name"]): a for a in data.get("service_accounts") or []
        }
        self.objects = objects(data)

    def scope(self, change: Change) -> dict[str, list[str]]:
        """The whole declared scope of a grant or grant rule (a plan holds only its diff)."""
        obj = self.objects.get((change.kind, change.key))
        return dict(obj.fields["scope"]) if obj is not None else {}

    def obj_fields(self, change: Change) -> dict[str, Any]:
        """Every declared field of the object (a plan's change holds only what differs)."""
        obj = self.objects.get((change.kind, change.key))
        return dict(obj.fields) if obj is not None else {}


def remember(
    change: Change,
    *,
    created: bool | None = None,
    refs: dict[str, Any] | None = None,
    forget: bool = False,
) -> None:
    if forget:
        ManagedObject.objects.filter(kind=change.kind, key=change.key).delete()
        return
    row, _ = ManagedObject.objects.get_or_create(
        kind=change.kind, key=change.key, defaults={"ident": change.ident}
    )
    if created:
        row.created = True
    if refs is not None:
        row.refs = refs
    row.ident = change.ident
    row.save()


def after(change: Change, name: str, default: Any = None) -> Any:
    for row in change.fields:
        if row["field"] == name:
            return row["after"]
    return default


def changed(change: Change, prefix: str) -> bool:
    return any(
        r["field"] == prefix
        or r["field"].startswith(prefix + ".")
        or r["field"].startswith(prefix + "[")
        for r in change.fields
    )


def users(names: list[str]) -> list[User]:
    found = list(User.objects.filter(username__in=names))
    missing = set(names) - {u.username for u in found}
    if missing:
        raise ApplyError(f"No user named {', '.join(sorted(missing))}.")
    return found


def space(instance: str, name: str) -> Space:
    row = (
        Space.objects.exclude(state=Space.State.GONE)
        .filter(instance__name=instance, name=name)
        .first()
    )
    if row is None:
        raise ApplyError(f"The instance {instance!r} has no space {name!r}.")
    return row


def instance(name: str) -> Instance:
    inst = Instance.objects.filter(name=name).first()
    if inst is None:
        raise ApplyError(f"No instance named {name!r}.")
    return inst
