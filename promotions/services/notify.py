"""Emails: a bundle waits for review, an import failed, a receipt was refused (at the
source) or could not be delivered (at the target). Sent to the owners of the instance of the
space concerned; a failure to send never loses the bundle."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse

from odcm.mail import header_text
from spaces.models import Space

from ..models import InboundBundle, Receipt

logger = logging.getLogger("promotions.notify")


def _owners(space: Space) -> list[str]:
    owners = space.instance.owners.filter(is_active=True).exclude(email="")
    return sorted({u.email for u in owners})


def _send(space: Space, subject: str, text: str, url: str) -> None:
    recipients = _owners(space)
    if not recipients:
        return
    body = render_to_string(
        "emails/promotions.txt", {"text": text, "url": settings.ODCM_SITE_URL + url}
    )
    try:
        send_mail(header_text(subject), body, None, recipients)
    except Exception:
        # The bundle is stored and shown in the inbox; a lost email must not undo that.
        logger.warning("promotions email for %s not sent", space.pk, exc_info=True)


def bundle_waiting(bundle: InboundBundle) -> None:
    _send(
        bundle.space,
        f"[ODCM] {bundle.project_name} {bundle.release_version} waits for review in "
        f"{bundle.space.name}",
        f"{bundle.source.name} promoted {bundle.project_name} {bundle.release_version} to "
        f"{bundle.space.name}. Review it and import it:",
        reverse("promotions:review", args=[bundle.pk]),
    )


def import_failed(bundle: InboundBundle, message: str) -> None:
    _send(
        bundle.space,
        f"[ODCM] Importing {bundle.project_name} {bundle.release_version} failed",
        f"Importing {bundle.project_name} {bundle.release_version} into {bundle.space.name} "
        f"failed: {message}",
        reverse("promotions:review", args=[bundle.pk]),
    )


def receipt_failed(space: Space, message: str) -> None:
    _send(
        space,
        f"[ODCM] A deployment receipt for {space.name} was refused",
        f"A deployment receipt could not be accepted: {message}",
        reverse("promotions:index"),
    )


def receipt_undelivered(receipt: Receipt, message: str) -> None:
    """At the target: the first failed attempt to push a receipt back (retries follow with
    backoff; one email per receipt, not one per attempt)."""
    _send(
        receipt.space,
        f"[ODCM] A deployment receipt for {receipt.peer.name} could not be delivered",
        f"The receipt of {receipt.release_version} in {receipt.environment} "
        f"({receipt.outcome}) could not be delivered to {receipt.peer.name}: {message} "
        "ODCM retries with backoff; it can also be downloaded as a file:",
        reverse("promotions:index"),
    )
