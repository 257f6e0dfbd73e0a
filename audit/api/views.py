"""API: the audit log, read-only, for administrators."""

from __future__ import annotations

from django.db.models import QuerySet
from rest_framework import serializers, viewsets

from audit.api.filters import AuditEntryFilter
from audit.models import AuditEntry
from odcm.api.permissions import IsAdmin


class AuditEntrySerializer(serializers.ModelSerializer[AuditEntry]):
    class Meta:
        model = AuditEntry
        fields = [
            "id",
            "at",
            "actor_label",
            "action",
            "object_type",
            "object_id",
            "object_label",
            "ip_address",
            "message",
            "changes",
        ]
        read_only_fields = fields


class AuditEntryViewSet(viewsets.ReadOnlyModelViewSet[AuditEntry]):
    """Filter with ``q``, ``actor``, ``action`` (prefix), ``object_type``, ``since``, ``until``."""

    serializer_class = AuditEntrySerializer
    permission_classes = [IsAdmin]
    filterset_class = AuditEntryFilter

    def get_queryset(self) -> QuerySet[AuditEntry]:
        return AuditEntry.objects.order_by("-at", "-pk")
