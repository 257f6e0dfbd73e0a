"""API: grant rules, a group's (or one person's) role on every instance with a tag or in a
region (now and as the fleet changes). Administrators, as for groups."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q, QuerySet
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from identity.api.filters import GrantRuleFilter
from identity.api.groups import _one_holder, _person_field
from identity.models import GrantRule, Group, Role
from identity.services import GrantError, clean_scope, grant_rules
from odcm.api.permissions import IsAdmin


class GrantRuleSerializer(serializers.ModelSerializer[GrantRule]):
    group = serializers.PrimaryKeyRelatedField(
        queryset=Group.objects.all(), required=False, allow_null=True
    )
    group_name = serializers.CharField(source="group.name", read_only=True, default=None)
    user = _person_field()
    username = serializers.CharField(source="user.username", read_only=True, default=None)
    role = serializers.ChoiceField(choices=Role.choices)
    selector = serializers.ChoiceField(choices=GrantRule.Selector.choices)
    value = serializers.CharField(max_length=100)
    scope = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField(max_length=200)),
        required=False,
        help_text="Narrowing inside each space: environments, projects, project_groups, tenants.",
    )
    label = serializers.CharField(read_only=True)  # type: ignore[assignment]
    instances_granted = serializers.IntegerField(read_only=True)

    class Meta:
        model = GrantRule
        fields = [
            "id",
            "group",
            "group_name",
            "user",
            "username",
            "role",
            "selector",
            "value",
            "scope",
            "label",
            "instances_granted",
            "created_at",
        ]
        read_only_fields = ["id", "created_at"]
        validators: list[Any] = []  # one rule per group, role and selector: the service says

    def validate_scope(self, value: Any) -> dict[str, list[str]]:
        try:
            return clean_scope(value)
        except GrantError as exc:
            raise serializers.ValidationError(str(exc)) from None

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        _one_holder(attrs)
        return attrs


class GrantRuleViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet[GrantRule],
):
    """A group's (or one person's: ``user``) role on every instance tagged ``value``
    (``selector`` "tag") or in region ``value`` ("region"): instances tagged, moved or
    enlisted later gain the grant, one no longer matched loses it (``instances_granted``: the
    rule's active grants now; they are listed under /grants/ with their ``rule``). Deleting
    revokes the rule's grants, not grants chosen explicitly."""

    serializer_class = GrantRuleSerializer
    permission_classes = [IsAdmin]
    lookup_value_regex = "[0-9a-f-]{36}"
    filterset_class = GrantRuleFilter

    def get_queryset(self) -> QuerySet[GrantRule]:
        active = Count("grants", filter=Q(grants__revoked_at__isnull=True))
        return (
            GrantRule.objects.select_related("group", "user")
            .annotate(instances_granted=active)
            .order_by("group__name", "user__username", "role", "selector", "value")
        )

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        try:
            rule, _done = grant_rules.create_rule(
                data.get("group") or data["user"], data["role"], data["selector"], data["value"],
                scope=data.get("scope"), actor=request.user, request=request._request,
            )  # fmt: skip
        except GrantError as exc:
            raise ValidationError({"value": [str(exc)]}) from None
        rule = self.get_queryset().get(pk=rule.pk)
        return Response(self.get_serializer(rule).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance: GrantRule) -> None:
        grant_rules.delete_rule(instance, actor=self.request.user, request=self.request._request)
