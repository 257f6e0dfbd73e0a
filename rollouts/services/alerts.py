"""The email to a subject's owners when its rollout halts: claimed once per halt."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.utils import timezone

from odcm.mail import header_text
from rollouts import registry
from rollouts.models import Rollout

logger = logging.getLogger("rollouts.alerts")


def notify_halt(rollout_id: Any) -> bool:
    """Email the owners once about a halted rollout. False when there was nothing to send
    (not halted any more, already told, or nobody to tell)."""
    now = timezone.now()
    rows = Rollout.objects.filter(
        pk=rollout_id, state=Rollout.State.HALTED, halt_notified_at__isnull=True
    )
    if not rows.update(halt_notified_at=now):
        return False  # another worker sent it, or it is no longer halted
    rollout = Rollout.objects.get(pk=rollout_id)
    kind = registry.kind(rollout.kind)
    recipients = kind.owners(rollout.subject_id)
    if not recipients:
        return False
    label = kind.label(rollout.subject_id)
    context = {
        "rollout": rollout,
        "label": label,
        "url": settings.ODCM_SITE_URL + kind.url(rollout.subject_id),
        "waves": list(rollout.waves.order_by("position")),
    }
    body = render_to_string("emails/rollouts_halted.txt", context)
    try:
        send_mail(
            header_text(f"[ODCM] Rollout of {label} r{rollout.revision} halted"),
            body,
            None,
            recipients,
        )
    except Exception:
        # Give the claim back so the next tick tries again; never lose the alert.
        Rollout.objects.filter(pk=rollout_id, halt_notified_at=now).update(halt_notified_at=None)
        logger.warning("rollout halt email for %s not sent", rollout_id, exc_info=True)
        return False
    return True
