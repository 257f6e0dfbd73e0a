"""/api/v1/sharing/…: items, revisions, diffs, imports, subscriptions, trusts, the broker."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from identity.access import is_admin
from odcm.api.filters import filtered
from odcm.api.permissions import IsAuthenticatedUser
from odcm.api.schema import single_object_schema
from sharing import access
from sharing.api import serializers as s
from sharing.api.filters import DeliveryFilter, ItemFilter, SubscriptionFilter, TrustFilter
from sharing.kinds import ContentError
from sharing.models import Delivery, Revision, SharedItem, Subscription, Trust
from sharing.services import items, queueing, subscriptions, trusts
from sharing.services.subscriptions import problem_counts
from spaces.models import Space


def _space(request: Request, pk: Any) -> Space:
    space = Space.objects.visible_to(request.user).select_related("instance").filter(pk=pk).first()
    if space is None:
        raise NotFound("No such space.")
    return space


def _managed_space(request: Request, pk: Any) -> Space:
    space = _space(request, pk)
    if not access.can_manage_subscriber(request.user, space):
        raise PermissionDenied("You do not manage this space.")
    return space


def _paginated(view: Any, queryset: QuerySet[Any], serializer: Any) -> Response:
    page = view.paginator.paginate_queryset(queryset, view.request, view=view)
    return view.paginator.get_paginated_response(serializer(page, many=True).data)


class ItemViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet[SharedItem],
):
    """Shared variable sets and step templates. Publisher-space managers change them."""

    permission_classes = [IsAuthenticatedUser]
    http_method_names = ["get", "post", "patch", "head", "options"]
    filterset_class = ItemFilter

    def get_queryset(self) -> QuerySet[SharedItem]:
        items = access.visible_items(self.request.user).select_related("publisher")
        return items.order_by("name", "pk")

    def get_serializer_class(self) -> Any:
        if self.action == "partial_update":
            return s.ItemUpdateSerializer
        return s.ItemSerializer

    def _editable(self) -> SharedItem:
        item = self.get_object()
        if not access.can_edit_item(self.request.user, item):
            raise PermissionDenied("Only managers of the publisher space change this item.")
        return item

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = s.ItemSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        publisher = _managed_space(request, data["publisher_id"])
        item = items.create_item(
            publisher,
            data["kind"],
            data["name"],
            description=data.get("description", ""),
            policy=data.get("policy", SharedItem.Policy.PUSH),
            actor=request.user,
        )
        return Response(s.ItemSerializer(item).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        item = self._editable()
        serializer = s.ItemUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        items.update_item(item, actor=request.user, **serializer.validated_data)
        return Response(s.ItemSerializer(item).data)

    @extend_schema(methods=["GET"], responses=s.RevisionSerializer(many=True))
    @extend_schema(
        methods=["POST"],
        request=s.PublishSerializer,
        responses={201: s.RevisionSerializer, 200: s.RevisionSerializer},
    )
    @action(detail=True, methods=["get", "post"], filter_backends=[])
    def revisions(self, request: Request, pk: str | None = None) -> Response:
        """GET: every revision, newest first. POST: publish a new revision."""
        if request.method == "GET":
            item = self.get_object()
            return _paginated(self, item.revisions.select_related("item"), s.RevisionSerializer)
        item = self._editable()
        serializer = s.PublishSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        saved = items.save_revision(
            item,
            serializer.validated_data["content"],
            actor=request.user,
            comment=serializer.validated_data.get("comment", ""),
        )
        code = status.HTTP_201_CREATED if saved.created else status.HTTP_200_OK
        return Response(s.RevisionSerializer(saved.revision).data, status=code)

    @extend_schema(parameters=[s.DiffQuerySerializer], responses=s.ChangeSerializer(many=True))
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def diff(self, request: Request, pk: str | None = None) -> Response:
        """Changes between two revisions; sensitive values only as changed or unchanged.
        ``to`` defaults to the latest revision, ``from`` to the one before ``to``."""
        item = self.get_object()
        query = s.DiffQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        new = query.validated_data.get("to") or item.latest_revision
        old = query.validated_data.get("from")
        try:
            changes = items.diff(item, max(new - 1, 0) if old is None else old, new)
        except Revision.DoesNotExist:
            raise NotFound("No such revisions.") from None
        return Response([c.__dict__ for c in changes])

    @extend_schema(request=None, responses=s.BrokerSerializer)
    @action(detail=True, methods=["post"])
    def push(self, request: Request, pk: str | None = None) -> Response:
        """Queue the latest revision for every automatic subscriber now."""
        queued = subscriptions.push_now(self._editable(), actor=request.user)
        return Response({"queued": queued})

    @extend_schema(request=s.ImportVariableSetSerializer, responses=s.ItemSerializer)
    @action(detail=False, methods=["post"], url_path="import-variable-set")
    def import_variable_set(self, request: Request) -> Response:
        """Import a library variable set from the publisher's Octopus space."""
        serializer = s.ImportVariableSetSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        publisher = _managed_space(request, data["publisher"])
        item = items.import_variable_set(
            publisher,
            data["library_variable_set_id"],
            actor=request.user,
            policy=data["policy"],
        )
        return Response(s.ItemSerializer(item).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.ImportStepTemplateSerializer, responses=s.ItemSerializer)
    @action(detail=False, methods=["post"], url_path="import-step-template")
    def import_step_template(self, request: Request) -> Response:
        """Import a step template from its JSON export or from an enlisted space."""
        serializer = s.ImportStepTemplateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        publisher = _managed_space(request, data["publisher"])
        if data.get("template") is not None:
            item = items.import_step_template(
                publisher, data["template"], actor=request.user, policy=data["policy"]
            )
        elif data.get("source_space") and data.get("action_template_id"):
            source = _space(request, data["source_space"])
            item = items.import_action_template(
                publisher,
                source,
                data["action_template_id"],
                actor=request.user,
                policy=data["policy"],
            )
        else:
            raise ContentError(["Give a template, or a source_space and action_template_id."])
        return Response(s.ItemSerializer(item).data, status=status.HTTP_201_CREATED)


class SubscriptionViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet[Subscription],
):
    """Subscriptions of spaces to shared items. Subscriber-space managers change them."""

    permission_classes = [IsAuthenticatedUser]
    serializer_class = s.SubscriptionSerializer
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    filterset_class = SubscriptionFilter

    def get_queryset(self) -> QuerySet[Subscription]:
        qs = access.visible_subscriptions(self.request.user).select_related("item", "space")
        return qs.order_by("item__name", "space__name", "pk")

    def _managed(self) -> Subscription:
        sub = self.get_object()
        if not access.can_manage_subscriber(self.request.user, sub.space):
            raise PermissionDenied("Only managers of the subscriber space change this.")
        return sub

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = s.SubscriptionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        item = access.visible_items(request.user).filter(pk=data["item_id"]).first()
        if item is None:
            raise NotFound("No such shared item.")
        space = _managed_space(request, data["space_id"])
        sub = subscriptions.subscribe(
            item,
            space,
            mode=data.get("mode", Subscription.Mode.AUTOMATIC),
            pinned_revision=data.get("pinned_revision"),
            actor=request.user,
        )
        sub.refresh_from_db()
        return Response(s.SubscriptionSerializer(sub).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=s.BulkSubscribeSerializer, responses={201: s.SubscriptionSerializer(many=True)}
    )
    @action(detail=False, methods=["post"], url_path="bulk", filter_backends=[])
    def bulk(self, request: Request) -> Response:
        """Subscribe many spaces to one item: all of them, or none (a space the caller does
        not manage, or one without an accepted trust, refuses the whole request)."""
        serializer = s.BulkSubscribeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        item = access.visible_items(request.user).filter(pk=data["item"]).first()
        if item is None:
            raise NotFound("No such shared item.")
        spaces = [_managed_space(request, pk) for pk in dict.fromkeys(data["spaces"])]
        with transaction.atomic():
            made = [
                subscriptions.subscribe(item, space, mode=data["mode"], actor=request.user)
                for space in spaces
            ]
        rows = self.get_queryset().filter(pk__in=[sub.pk for sub in made])
        return Response(s.SubscriptionSerializer(rows, many=True).data, status=201)

    @extend_schema(request=s.SubscriptionChangeSerializer, responses=s.SubscriptionSerializer)
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        sub = self._managed()
        serializer = s.SubscriptionChangeSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        subscriptions.change(
            sub,
            mode=data.get("mode"),
            pinned_revision=data.get("pinned_revision", "keep"),
            actor=request.user,
        )
        sub.refresh_from_db()
        return Response(s.SubscriptionSerializer(sub).data)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Unsubscribe: the copy stays in Octopus, marked as no longer managed."""
        subscriptions.unsubscribe(self._managed(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=s.SyncSerializer, responses=s.SubscriptionSerializer)
    @action(detail=True, methods=["post"])
    def sync(self, request: Request, pk: str | None = None) -> Response:
        """Sync now: deliver the latest (or pinned, or given) revision."""
        sub = self._managed()
        serializer = s.SyncSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        subscriptions.sync_now(
            sub, revision=serializer.validated_data.get("revision"), actor=request.user
        )
        sub.refresh_from_db()
        return Response(s.SubscriptionSerializer(sub).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses=s.ChangeSerializer(many=True))
    @action(
        detail=True,
        methods=["get"],
        url_path="update",
        filter_backends=[],
        pagination_class=None,
    )
    def update_preview(self, request: Request, pk: str | None = None) -> Response:
        """What syncing would change: the diff from the delivered to the latest revision."""
        sub = self.get_object()
        latest = sub.pinned_revision or sub.item.latest_revision
        changes = items.diff(sub.item, sub.delivered_revision or 0, latest) if latest else []
        return Response([c.__dict__ for c in changes])

    @extend_schema(
        parameters=[
            OpenApiParameter("outcome", str, enum=Delivery.Outcome.values, many=True),
            OpenApiParameter("trigger", str, enum=Delivery.Trigger.values, many=True),
        ],
        responses=s.DeliverySerializer(many=True),
    )
    @action(detail=True, methods=["get"], filter_backends=[])
    def deliveries(self, request: Request, pk: str | None = None) -> Response:
        """Every delivery attempt, newest first (``outcome``, ``trigger``: one or several)."""
        attempts = filtered(request, self.get_object().deliveries.all(), DeliveryFilter)
        return _paginated(self, attempts, s.DeliverySerializer)


class TrustViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet[Trust],
):
    """Trusts: publisher managers propose, subscriber managers accept, either side revokes."""

    permission_classes = [IsAuthenticatedUser]
    serializer_class = s.TrustSerializer
    filterset_class = TrustFilter

    def get_queryset(self) -> QuerySet[Trust]:
        trusts = access.visible_trusts(self.request.user).select_related("publisher", "subscriber")
        return trusts.order_by("publisher__name", "subscriber__name", "pk")

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = s.TrustSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        publisher = _managed_space(request, serializer.validated_data["publisher_id"])
        subscriber = _space(request, serializer.validated_data["subscriber_id"])
        trust = trusts.propose(publisher, subscriber, actor=request.user)
        return Response(s.TrustSerializer(trust).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.TrustByTagSerializer, responses={201: s.TrustSerializer(many=True)})
    @action(
        detail=False,
        methods=["post"],
        url_path="by-tag",
        filter_backends=[],
        pagination_class=None,
    )
    def by_tag(self, request: Request) -> Response:
        """Propose trusts to every space on the instances carrying a tag."""
        serializer = s.TrustByTagSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        publisher = _managed_space(request, serializer.validated_data["publisher"])
        made = trusts.propose_by_tag(
            publisher, serializer.validated_data["tag"], actor=request.user
        )
        return Response(s.TrustSerializer(made, many=True).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=s.TrustSerializer)
    @action(detail=True, methods=["post"])
    def accept(self, request: Request, pk: str | None = None) -> Response:
        trust = self.get_object()
        if not access.can_manage_subscriber(request.user, trust.subscriber):
            raise PermissionDenied("Only managers of the subscriber space accept a trust.")
        return Response(s.TrustSerializer(trusts.accept(trust, actor=request.user)).data)

    @extend_schema(request=None, responses=s.TrustSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, pk: str | None = None) -> Response:
        trust = self.get_object()
        if not (
            access.can_manage_subscriber(request.user, trust.subscriber)
            or access.can_manage_subscriber(request.user, trust.publisher)
        ):
            raise PermissionDenied("Only managers of either space revoke a trust.")
        return Response(s.TrustSerializer(trusts.revoke(trust, actor=request.user)).data)


class BrokerViewSet(viewsets.ViewSet):
    """The broker: failed and drifted counts for the caller, and the global pause switch."""

    permission_classes = [IsAuthenticatedUser]
    schema = single_object_schema()

    @extend_schema(responses=s.BrokerSerializer)
    def list(self, request: Request) -> Response:
        counts = problem_counts(access.visible_subscriptions(request.user))
        return Response({"paused": queueing.paused(), **counts})

    @extend_schema(request=s.BrokerSerializer, responses=s.BrokerSerializer)
    @action(detail=False, methods=["post"])
    def pause(self, request: Request) -> Response:
        """Administrators: ``{"paused": true}`` holds every delivery; false resumes."""
        if not is_admin(request.user):
            raise PermissionDenied("Only administrators pause deliveries.")
        serializer = s.BrokerSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        queueing.set_paused(serializer.validated_data["paused"], actor=request.user)
        return self.list(request)
