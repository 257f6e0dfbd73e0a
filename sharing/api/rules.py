"""/api/v1/sharing/subscription-rules/: an item subscribed to every space on instances with a
tag or in a region, now and as the fleet changes."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q, QuerySet
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from identity.access import is_admin
from odcm.api.filters import Choices, FilterSet, Ordering, UUIDs
from odcm.api.permissions import IsAuthenticatedUser
from sharing import access
from sharing.models import Subscription, SubscriptionRule
from sharing.services import subscription_rules
from sharing.services.subscriptions import SubscriptionError


class SubscriptionRuleSerializer(serializers.ModelSerializer[SubscriptionRule]):
    item = serializers.UUIDField(source="item_id")
    item_name = serializers.CharField(source="item.name", read_only=True)
    selector = serializers.ChoiceField(choices=SubscriptionRule.Selector.choices)
    value = serializers.CharField(max_length=100)
    mode = serializers.ChoiceField(
        choices=Subscription.Mode.choices, default=Subscription.Mode.AUTOMATIC
    )
    label = serializers.CharField(read_only=True)  # type: ignore[assignment]
    created_by = serializers.CharField(source="created_by.username", read_only=True, default="")
    spaces_subscribed = serializers.IntegerField(read_only=True)

    class Meta:
        model = SubscriptionRule
        fields = [
            "id",
            "item",
            "item_name",
            "selector",
            "value",
            "mode",
            "label",
            "created_by",
            "spaces_subscribed",
            "created_at",
        ]
        read_only_fields = ["id", "created_at"]
        validators: list[Any] = []  # one rule per item and selector: the service says


class SubscriptionRuleFilter(FilterSet):
    item = UUIDs(help_text="Shared item id(s)")
    selector = Choices(choices=SubscriptionRule.Selector.choices)
    ordering = Ordering("created_at", "value")

    class Meta:
        model = SubscriptionRule
        fields: list[str] = []


class SubscriptionRuleViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet[SubscriptionRule],
):
    """Subscribe every space on instances tagged ``value`` (``selector`` "tag") or in region
    ``value`` ("region") that the caller manages and the item's publisher trusts, including
    spaces enlisted and instances tagged or moved later; a space no longer matched is
    unsubscribed (``spaces_subscribed``: the rule's subscriptions now, listed under
    /sharing/subscriptions/ with their ``rule``). Deleting unsubscribes the rule's spaces,
    never subscriptions chosen explicitly. Each person sees and removes their own rules;
    administrators every rule."""

    permission_classes = [IsAuthenticatedUser]
    serializer_class = SubscriptionRuleSerializer
    filterset_class = SubscriptionRuleFilter
    lookup_value_regex = "[0-9a-f-]{36}"

    def get_queryset(self) -> QuerySet[SubscriptionRule]:
        live = Count(
            "subscriptions", filter=~Q(subscriptions__status=Subscription.Status.UNMANAGED)
        )
        rules = SubscriptionRule.objects.select_related("item", "created_by").annotate(
            spaces_subscribed=live
        )
        if not is_admin(self.request.user):
            rules = rules.filter(created_by=self.request.user.pk)
        return rules.order_by("item__name", "selector", "value", "pk")

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        item = access.visible_items(request.user).filter(pk=data["item_id"]).first()
        if item is None:
            raise NotFound("No such shared item.")
        try:
            rule, _done = subscription_rules.create_rule(
                item, data["selector"], data["value"], mode=data["mode"], actor=request.user
            )
        except SubscriptionError as exc:
            raise ValidationError({"value": [str(exc)]}) from None
        rule = self.get_queryset().get(pk=rule.pk)
        return Response(self.get_serializer(rule).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance: SubscriptionRule) -> None:
        subscription_rules.delete_rule(instance, actor=self.request.user)
