"""Pruning the audit log: entries older than ``ODCM_RETENTION_AUDIT_DAYS`` (0: kept forever)."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings

from audit.models import AuditEntry
from audit.services import record
from odcm.retention import cutoff, delete_in_batches


def prune(now: datetime) -> dict[str, int]:
    before = cutoff(now, settings.ODCM_RETENTION_AUDIT_DAYS)
    if before is None:
        return {}
    deleted = delete_in_batches(AuditEntry.objects.filter(at__lt=before))
    if deleted:
        # The log says that it was pruned, and up to when: a gap is explained, not silent.
        record(
            "audit.pruned",
            message=f"{deleted} entries older than {before:%Y-%m-%d %H:%M} UTC removed "
            f"(ODCM_RETENTION_AUDIT_DAYS={settings.ODCM_RETENTION_AUDIT_DAYS})",
        )
    return {"audit_entries": deleted}
