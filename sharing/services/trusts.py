"""Trusts: a publisher space shares with subscriber spaces whose managers accepted."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from audit.services import record
from identity.models import User
from odcm.errors import ServiceError
from sharing.models import Subscription, Trust
from sharing.services.queueing import release_copies
from spaces.models import Space


class TrustError(ServiceError, ValueError):
    """A trust that cannot be proposed, accepted or revoked; the message is for people."""


def propose(publisher: Space, subscriber: Space, *, actor: Any = None, via_tag: str = "") -> Trust:
    """Offer to share with ``subscriber``; a revoked trust is proposed again."""
    if publisher.pk == subscriber.pk:
        raise TrustError("A space cannot trust itself.")
    with transaction.atomic():
        trust, created = Trust.objects.select_for_update().get_or_create(
            publisher=publisher,
            subscriber=subscriber,
            defaults={"proposed_by": actor, "via_tag": via_tag},
        )
        if not created and trust.state == Trust.State.REVOKED:
            trust.state = Trust.State.PROPOSED
            trust.revoked_at = None
            trust.proposed_by = actor
            trust.save(update_fields=["state", "revoked_at", "proposed_by"])
        if created or trust.state == Trust.State.PROPOSED:
            record(
                "sharing.trust.propose",
                actor=actor,
                obj=trust,
                after={"publisher": str(publisher.pk), "subscriber": str(subscriber.pk)},
            )
    return trust


def propose_by_tag(publisher: Space, tag: str, *, actor: Any) -> list[Trust]:
    """Offer to share with every enlisted space on an instance carrying ``tag`` that
    ``actor`` may manage (a tag is not a way to reach, or learn of, anyone else's spaces).

    Spaces that already have a trust with the publisher (in any state, revoked included) are
    left alone. :func:`extend_tag_trusts` repeats this for spaces enlisted later.
    """
    spaces = (
        Space.objects.manageable_by(actor)
        .filter(instance__tags__name=tag, state=Space.State.ENLISTED)
        .exclude(pk=publisher.pk)
        .exclude(trusts_received__publisher=publisher)
        .distinct()
    )
    return [propose(publisher, s, actor=actor, via_tag=tag) for s in spaces]


def extend_tag_trusts() -> int:
    """Periodic: propose tag trusts to spaces enlisted since, on behalf of whoever proposed by
    that tag and only where they may still manage both sides. Returns how many were proposed."""
    triples = (
        Trust.objects.exclude(via_tag="")
        .filter(proposed_by__is_active=True)
        .values_list("publisher_id", "via_tag", "proposed_by_id")
        .distinct()
        .order_by()
    )
    made = 0
    for publisher_id, tag, proposer_id in triples:
        proposer = User.objects.get(pk=proposer_id)
        publisher = Space.objects.manageable_by(proposer).filter(pk=publisher_id).first()
        if publisher is not None:
            made += len(propose_by_tag(publisher, tag, actor=proposer))
    return made


def accept(trust: Trust, *, actor: Any = None) -> Trust:
    with transaction.atomic():
        changed = Trust.objects.filter(pk=trust.pk, state=Trust.State.PROPOSED).update(
            state=Trust.State.ACCEPTED, accepted_by=actor, accepted_at=timezone.now()
        )
        trust.refresh_from_db()
        if changed:
            record("sharing.trust.accept", actor=actor, obj=trust)
    return trust


def revoke(trust: Trust, *, actor: Any = None) -> Trust:
    """No further deliveries; copies stay in Octopus, marked as no longer managed."""
    with transaction.atomic():
        Trust.objects.filter(pk=trust.pk).update(
            state=Trust.State.REVOKED, revoked_at=timezone.now()
        )
        trust.refresh_from_db()
        subs = list(
            Subscription.objects.filter(item__publisher=trust.publisher, space=trust.subscriber)
        )
        Subscription.objects.filter(pk__in=[s.pk for s in subs]).update(
            status=Subscription.Status.UNMANAGED, queued_at=None, next_retry_at=None
        )
        record(
            "sharing.trust.revoke",
            actor=actor,
            obj=trust,
            message=f"{len(subs)} subscriptions no longer managed",
        )
        release_copies([s.pk for s in subs])
    return trust


def is_trusted(publisher: Space, subscriber: Space) -> bool:
    return Trust.objects.filter(
        publisher=publisher, subscriber=subscriber, state=Trust.State.ACCEPTED
    ).exists()
