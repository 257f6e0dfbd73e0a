"""What the blueprint and instance-baseline viewsets share: PATCH (settings and, with a
``document``, a new revision) and the paginated list of revisions."""

from __future__ import annotations

from types import ModuleType
from typing import Any, ClassVar

from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from managed.models import ManagedParent


class ParentViewSet(viewsets.GenericViewSet[Any]):
    """Put first among a viewset's bases (its ``partial_update`` wins over DRF's); the
    subclass names its service module (``update_settings``, ``save_revision``) and its
    serializers, and may narrow :meth:`editable`."""

    service: ModuleType  # the kind's services module
    detail_serializer: ClassVar[type[BaseSerializer[Any]]]
    update_serializer: ClassVar[type[BaseSerializer[Any]]]
    revision_serializer: ClassVar[type[BaseSerializer[Any]]]
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_serializer_class(self) -> Any:
        if self.action == "partial_update":
            return self.update_serializer
        return self.detail_serializer

    def editable(self) -> ManagedParent:
        """The parent of the URL, if the user may change it."""
        parent: ManagedParent = self.get_object()
        return parent

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        parent = self.editable()
        serializer = self.update_serializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        data: dict[str, Any] = serializer.validated_data
        self.service.update_settings(
            parent,
            description=data.get("description"),
            on_drift=data.get("on_drift"),
            actor=request.user,
        )
        if "document" in data:
            self.service.save_revision(
                parent, data["document"], comment=data.get("comment", ""), actor=request.user
            )
        parent.refresh_from_db()
        return Response(self.detail_serializer(parent).data)

    @action(detail=True, methods=["get"], filter_backends=[])
    def revisions(self, request: Request, pk: str | None = None) -> Response:
        """Every revision, newest first (content without secrets)."""
        parent = self.get_object()
        paginator: Any = self.paginator
        page = paginator.paginate_queryset(parent.revisions.all(), request, view=self)
        return paginator.get_paginated_response(self.revision_serializer(page, many=True).data)
