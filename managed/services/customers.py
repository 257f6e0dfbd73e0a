"""Customer actions on the facade's key beside the sync (:mod:`managed.services.facades`):
rotate it, or remove the customer with its service account in the management instance
(:mod:`managed.services.facade_keys`)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.services import record
from managed.models import Customer
from managed.services import facade_keys as K
from managed.services.facades import CustomerError, queue_sync
from managed.services.target_broker import describe
from odcm.clients import client_for
from odcm.work import claim, release


def rotate_key(customer: Customer, *, actor: Any = None) -> bool:
    """Ask for a new key of ODCM's service account (also the way back from a person's key):
    the next sync makes it, delivers it, then deletes the old one in Octopus. False while a
    sync holds the customer (the rotation then happens at the next one)."""
    Customer.objects.filter(pk=customer.pk).update(
        key_source=Customer.KeySource.ODCM, rotate_requested_at=timezone.now()
    )
    customer.refresh_from_db()
    record("managed.customer.rotate_key", actor=actor, obj=customer)
    return queue_sync(customer)


def remove_customer(customer: Customer, *, actor: Any = None) -> list[str]:
    """Delete the customer's service user, its keys and its team in the management instance,
    then the customer. Its facade space and its tenant stay (deployment history); a person
    deletes them in the registry or Octopus. Nothing is removed in ODCM if Octopus refuses."""
    rows = Customer.objects.all()
    lease = claim(rows, customer.pk, seconds=settings.ODCM_MANAGED_CLAIM_SECONDS)
    if lease is None:
        raise CustomerError("A sync of this customer is running; try again in a moment.")
    customer.refresh_from_db()
    try:
        with client_for(customer.management_space.instance) as client:
            gone = K.remove_account(client, customer)
    except Exception as exc:
        release(rows, lease)
        raise CustomerError(f"The service account was not removed: {describe(exc)}") from None
    with transaction.atomic():
        record(
            "managed.customer.remove",
            actor=actor,
            obj=customer,
            before={"name": customer.name, "removed_in_octopus": gone},
        )
        customer.delete()
    return gone
