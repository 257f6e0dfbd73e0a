"""/api/v1/managed/splits and /customers: split a space; facade spaces per customer."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from identity.models import Group
from managed import access
from managed.api import serializers as s
from managed.models import Customer, Split
from managed.services import customers, facades
from managed.services import split as splits
from odcm.api.permissions import IsAuthenticatedUser
from spaces.models import Instance, Space
from spaces.services.octopus_spaces import create_space


def _space(user: Any, pk: Any, what: str) -> Space:
    space = Space.objects.visible_to(user).filter(pk=pk).first()
    if space is None:
        raise NotFound(f"No such {what} among the spaces you can see.")
    return space


def _instance(user: Any, pk: Any) -> Instance:
    instance = Instance.objects.visible_to(user).filter(pk=pk).first()
    if instance is None:
        raise NotFound("No such instance.")
    return instance


class SplitViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet[Split],
):
    """Splits: planned on create (reads only), copied and verified by ``run``."""

    permission_classes = [IsAuthenticatedUser]
    serializer_class = s.SplitSerializer
    filter_backends: list[Any] = []

    def get_queryset(self) -> QuerySet[Split]:
        return access.visible_splits(self.request.user).order_by("-created_at", "pk")

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Plan a split into ``target_id``, or into a ``new_space`` created first."""
        serializer = s.SplitSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        user = request.user
        source = _space(user, data["source_id"], "source space")
        target = _space(user, data["target_id"], "target space") if data.get("target_id") else None
        instance = _instance(user, data["new_space"]["instance_id"]) if target is None else None
        if not access.can_split(user, source, target, instance):
            raise PermissionDenied("You must manage both spaces (or the new space's instance).")
        if target is None:
            assert instance is not None
            target = create_space(
                instance,
                name=data["new_space"]["name"],
                description=f"Split out of {source.name}.",
                actor=user,
            ).space
        made = splits.create_split(
            source,
            target,
            data["projects"],
            source_action=data.get("source_action", Split.SourceAction.KEEP),
            actor=user,
        )
        return Response(s.SplitSerializer(made).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={202: s.SplitSerializer})
    @action(detail=True, methods=["post"])
    def run(self, request: Request, pk: str | None = None) -> Response:
        """Queue the copy; the verification result shows on the split (202)."""
        row = self.get_object()
        if not access.can_split(request.user, row.source, row.target):
            raise PermissionDenied("You must manage both spaces.")
        if not splits.queue_run(row, actor=request.user):
            raise splits.SplitError("This split cannot run now (blocked, running or done).")
        row.refresh_from_db()
        return Response(s.SplitSerializer(row).data, status=status.HTTP_202_ACCEPTED)


class CustomerViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet[Customer],
):
    """Customers with facade spaces (created from a blueprint, kept in step)."""

    permission_classes = [IsAuthenticatedUser]
    serializer_class = s.CustomerSerializer
    filter_backends: list[Any] = []

    def get_queryset(self) -> QuerySet[Customer]:
        return access.visible_customers(self.request.user).order_by("name", "pk")

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = s.CustomerSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        user = request.user
        mgmt = _space(user, data["management_space_id"], "management space")
        instance = _instance(user, data["instance_id"]) if data.get("instance_id") else None
        blueprint = None
        if data.get("blueprint_id"):
            blueprint = access.visible_blueprints(user).filter(pk=data["blueprint_id"]).first()
            if blueprint is None:
                raise NotFound("No such blueprint.")
            if not access.can_edit(user, blueprint):
                raise PermissionDenied("That blueprint is not yours to apply.")
        group = None
        if data.get("group_id"):
            group = Group.objects.filter(pk=data["group_id"]).first()
            if group is None:
                raise NotFound("No such group.")
        if not access.can_add_customer(user, mgmt, instance or mgmt.instance):
            raise PermissionDenied(
                "You must manage the management space and the facade space's instance."
            )
        customer = facades.create_customer(
            data["name"],
            mgmt,
            group=group,
            blueprint=blueprint,
            instance=instance,
            api_key=data.get("api_key", ""),
            actor=user,
        )
        return Response(s.CustomerSerializer(customer).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={202: s.CustomerSerializer})
    @action(detail=True, methods=["post"], url_path="rotate-key")
    def rotate_key(self, request: Request, pk: str | None = None) -> Response:
        """A new key of ODCM's service account for the facade steps (also the way back from
        a key entered by hand): made and delivered by the next sync, then the old one is
        deleted in Octopus."""
        row = self.get_object()
        if not access.can_manage_space_of(request.user, row):
            raise PermissionDenied("Only managers of the management space rotate its key.")
        customers.rotate_key(row, actor=request.user)
        row.refresh_from_db()
        return Response(s.CustomerSerializer(row).data, status=status.HTTP_202_ACCEPTED)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Remove the customer and its service account (user, key, team) in the management
        instance; its facade space and tenant are kept."""
        row = self.get_object()
        if not access.can_manage_space_of(request.user, row):
            raise PermissionDenied("Only managers of the management space remove customers.")
        customers.remove_customer(row, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=s.ResyncSerializer, responses={202: s.CustomerSerializer})
    @action(detail=True, methods=["post"])
    def resync(self, request: Request, pk: str | None = None) -> Response:
        """Bring the facade space in step now; ``api_key`` replaces the key first."""
        row = self.get_object()
        if not access.can_manage_space_of(request.user, row):
            raise PermissionDenied("Only managers of the management space resync it.")
        body = s.ResyncSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        if body.validated_data.get("api_key"):
            facades.set_api_key(row, body.validated_data["api_key"], actor=request.user)
        else:
            facades.queue_sync(row, actor=request.user)
        row.refresh_from_db()
        return Response(s.CustomerSerializer(row).data, status=status.HTTP_202_ACCEPTED)
