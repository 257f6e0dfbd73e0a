"""The step-template library offered to the apps that may not import sharing (blueprints):
registered with ``spaces.step_template_library`` in ``SharingConfig.ready()``.

An installation is a subscription of the space to the shared step template, so delivery,
claims, retries, audit and drift are sharing's own; a blueprint only subscribes, re-syncs
and unsubscribes. The publisher must have an accepted trust with the space, as for any
subscription: a blueprint does not widen who may write into a space.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q

from sharing.models import SharedItem, Subscription
from sharing.services import drift
from sharing.services.subscriptions import (
    SubscriptionError,
    change,
    subscribe,
    sync_now,
    unsubscribe,
)
from sharing.services.trusts import is_trusted
from spaces.models import Space
from spaces.step_template_library import Installed, LibraryProblem

S = Subscription.Status


def _item(name: str, publisher: Space | None) -> SharedItem:
    found = list(
        SharedItem.objects.filter(
            kind=SharedItem.Kind.STEP_TEMPLATE, name__iexact=name.strip()
        ).select_related("publisher")
    )
    if publisher is not None and len(found) > 1:
        found = [i for i in found if i.publisher_id == publisher.pk] or found
    if not found:
        raise LibraryProblem(f"step_templates: the library has no step template named '{name}'.")
    if len(found) > 1:
        spaces = ", ".join(sorted(i.publisher.name for i in found))
        raise LibraryProblem(
            f"step_templates: '{name}' is published by several spaces ({spaces}); publish it "
            "from the blueprint's management space."
        )
    if not found[0].latest_revision:
        raise LibraryProblem(f"step_templates: '{name}' has no revision yet.")
    return found[0]


def _wanted(item: SharedItem, pin: int | None) -> int:
    """The revision a blueprint wants: the latest, or the one it pins (if it may)."""
    if pin is None:
        return item.latest_revision
    if item.policy == SharedItem.Policy.PUSH:
        raise LibraryProblem(
            f"step_templates: '{item.name}': its publisher pushes every revision to every "
            f"subscriber, so it cannot be pinned to revision {pin}."
        )
    if pin > item.latest_revision:
        raise LibraryProblem(
            f"step_templates: '{item.name}' has no revision {pin} "
            f"(the latest is {item.latest_revision})."
        )
    return pin


def _state(sub: Subscription | None, wanted: int, pin: int | None = None) -> str:
    if sub is None or sub.status == S.UNMANAGED:
        return "missing"
    if sub.status == S.DRIFTED or (sub.drift and sub.status in (S.QUEUED, S.SYNCING)):
        return "drifted"  # reported until a delivery has put it back (sharing clears drift)
    if sub.status == S.FAILED:
        return "failed"
    if (sub.pinned_revision or None) != pin:
        return "repin"  # a later push would move it (or never will): set the pin first
    # pinned: exactly that revision; following the latest: that or a newer one
    at = (lambda n: n == wanted) if pin else (lambda n: n >= wanted)
    if sub.status in (S.QUEUED, S.SYNCING) and at(sub.target_revision):
        return "in_step"  # on its way through the broker
    delivered = sub.delivered_revision or 0
    if at(delivered) and sub.status in (S.IN_SYNC, S.UPDATE_AVAILABLE):
        return "in_step"
    return "behind" if delivered < wanted else "ahead"


def _details(sub: Subscription | None, state: str) -> list[str]:
    """Why a state is not in step, for the plan (the fields edited in Octopus, …)."""
    if sub is None:
        return []
    if state == "drifted":
        return [str(d.get("name", "")) for d in sub.drift or []]
    if state == "failed":
        return [sub.error_message[:200]]
    if state == "repin":
        return [f"pinned to r{sub.pinned_revision}" if sub.pinned_revision else "follows latest"]
    if state in ("behind", "ahead"):
        return [f"at r{sub.delivered_revision or 0}"]
    return []


def _installable(item: SharedItem, space: Space) -> None:
    """Checked when planning, so a space that cannot take the template fails before the
    blueprint writes anything into it."""
    if item.publisher_id == space.pk:
        raise LibraryProblem(f"step_templates: '{item.name}' is published by {space.name}.")
    if not is_trusted(item.publisher, space):
        raise LibraryProblem(
            f"step_templates: '{item.name}': {item.publisher.name} has no accepted trust with "
            f"{space.name} (the publisher proposes one; the space's managers accept it)."
        )


class SharingLibrary:
    """Shared step templates as a blueprint sees them (see the module docstring)."""

    def status(
        self,
        space: Space,
        names: list[str],
        *,
        publisher: Space | None,
        inspect: bool = False,
        revisions: dict[str, int | None] | None = None,
    ) -> dict[str, Installed]:
        items = {name.lower(): _item(name, publisher) for name in names}
        pins = {lower: (revisions or {}).get(lower) for lower in items}
        wanted = {lower: _wanted(item, pins[lower]) for lower, item in items.items()}
        subs = {
            s.item_id: s
            for s in Subscription.objects.filter(
                space=space, item__in=[i.pk for i in items.values()]
            ).select_related("item")
        }
        out = {}
        for lower, item in items.items():
            sub = subs.get(item.pk)
            if inspect and sub is not None and sub.status in drift.CHECKED:
                drift.check(str(sub.pk))  # a hand edit in Octopus marks it drifted
                sub.refresh_from_db()
            state = _state(sub, wanted[lower], pins[lower])
            if state == "missing":
                _installable(item, space)
            out[lower] = Installed(
                name=item.name,
                state=state,
                ref=str(sub.pk) if sub is not None and state != "missing" else "",
                revision=wanted[lower],
                details=_details(sub, state),
                latest=item.latest_revision,
            )
        return out

    def install(
        self,
        space: Space,
        name: str,
        *,
        publisher: Space | None,
        revision: int | None = None,
        actor: Any = None,
    ) -> tuple[str, bool]:
        item = _item(name, publisher)
        wanted = _wanted(item, revision)
        sub = Subscription.objects.filter(item=item, space=space).first()
        state = _state(sub, wanted, revision)
        try:
            if sub is None or state == "missing":
                sub = subscribe(
                    item,
                    space,
                    mode=Subscription.Mode.AUTOMATIC,
                    pinned_revision=revision,
                    actor=actor,
                )
                return str(sub.pk), True
            if state == "repin":  # queues the pinned (or latest) revision if it must
                sub = change(sub, pinned_revision=revision, actor=actor)
                sub.refresh_from_db()
                state = _state(sub, wanted, revision)
            if state != "in_step":  # behind, ahead, failed or edited by hand: deliver again
                sync_now(sub, revision=wanted, actor=actor)
        except SubscriptionError as exc:
            raise LibraryProblem(f"step_templates: '{item.name}': {exc}") from exc
        return str(sub.pk), False

    def remove(self, space: Space, ref: str, *, actor: Any = None) -> None:
        sub = (
            Subscription.objects.filter(pk=ref, space=space)
            .filter(~Q(status=S.UNMANAGED))
            .select_related("item")
            .first()
        )
        if sub is not None:
            unsubscribe(sub, actor=actor)
