"""API: groups, grants (with their Octopus state per space), role mappings, users' access."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Prefetch, Q, QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from identity import access, services
from identity.api.filters import GrantFilter, GroupFilter, UserFilter
from identity.models import Grant, GrantTarget, Group, Role, User, instance_model, space_model
from identity.services import teams
from odcm.api.permissions import IsAdmin, IsAuthenticatedUser


class ExternalGroupsField(serializers.ListField):
    """Written as a list of strings; read from the group's ExternalGroup rows."""

    def to_representation(self, data: Any) -> list[str]:
        return [e.value for e in data.all()] if hasattr(data, "all") else list(data)


class GroupSerializer(serializers.ModelSerializer[Group]):
    members = serializers.SlugRelatedField(
        many=True, slug_field="username", queryset=User.objects.all(), required=False
    )
    external_groups = ExternalGroupsField(
        child=serializers.CharField(max_length=500), required=False
    )

    class Meta:
        model = Group
        fields = [
            "id",
            "name",
            "slug",
            "description",
            "members",
            "external_groups",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "slug", "created_at", "updated_at"]


class GroupViewSet(viewsets.ModelViewSet[Group]):
    """ODCM groups: users and external groups (OIDC group values, LDAP DNs). Administrators."""

    serializer_class = GroupSerializer
    permission_classes = [IsAdmin]
    lookup_value_regex = "[0-9a-f-]{36}"
    filterset_class = GroupFilter

    def get_queryset(self) -> QuerySet[Group]:
        return Group.objects.prefetch_related("members", "external_groups").order_by("name")

    def perform_create(self, serializer: Any) -> None:
        data = serializer.validated_data
        serializer.instance = services.create_group(
            name=data["name"],
            description=data.get("description", ""),
            members=data.get("members", []),
            external_groups=data.get("external_groups", []),
            actor=self.request.user,
            request=self.request._request,
        )

    def perform_update(self, serializer: Any) -> None:
        data = serializer.validated_data
        serializer.instance = services.update_group(
            serializer.instance,
            name=data.get("name"),
            description=data.get("description"),
            members=data.get("members"),
            external_groups=data.get("external_groups"),
            actor=self.request.user,
            request=self.request._request,
        )

    def perform_destroy(self, instance: Group) -> None:
        services.delete_group(instance, actor=self.request.user, request=self.request._request)


class GrantTargetSerializer(serializers.ModelSerializer[GrantTarget]):
    space_name = serializers.CharField(source="space.name", read_only=True)
    instance = serializers.UUIDField(source="space.instance_id", read_only=True)  # type: ignore[assignment]

    class Meta:
        model = GrantTarget
        fields = [
            "space",
            "space_name",
            "instance",
            "state",
            "attempts",
            "last_error",
            "next_retry_at",
            "applied_at",
        ]
        read_only_fields = fields


def _scope_field() -> serializers.DictField:
    return serializers.DictField(
        child=serializers.ListField(child=serializers.CharField(max_length=200)),
        required=False,
        help_text=(
            "Narrows the grant inside each space, as Octopus's scoped user roles do: "
            '{"environments": [...], "projects": [...], "project_groups": [...], '
            '"tenants": [...]} by name, translated into each space\'s ids. Empty: the '
            "whole space."
        ),
    )


def _valid_scope(value: Any) -> dict[str, list[str]]:
    try:
        return services.clean_scope(value)
    except services.GrantError as exc:
        raise serializers.ValidationError(str(exc)) from None


def _person_field() -> serializers.SlugRelatedField[User]:
    return serializers.SlugRelatedField(
        slug_field="uuid",
        queryset=User.objects.filter(is_active=True),
        required=False,
        allow_null=True,
        help_text="A person's uuid (/api/v1/users/?search=…): the grant is theirs alone.",
    )


def _one_holder(attrs: dict[str, Any]) -> None:
    if (attrs.get("group") is None) == (attrs.get("user") is None):
        raise ValidationError({"group": ["Give exactly one of group and user."]})


class GrantSerializer(serializers.ModelSerializer[Grant]):
    group = serializers.PrimaryKeyRelatedField(
        queryset=Group.objects.all(), required=False, allow_null=True
    )
    user = _person_field()
    username = serializers.CharField(source="user.username", read_only=True, default=None)
    space = serializers.PrimaryKeyRelatedField(
        queryset=space_model().objects.all(), required=False, allow_null=True
    )
    instance = serializers.PrimaryKeyRelatedField(  # type: ignore[assignment]
        queryset=instance_model().objects.all(), required=False, allow_null=True
    )
    group_name = serializers.CharField(source="group.name", read_only=True, default=None)
    targets = GrantTargetSerializer(many=True, read_only=True)
    scope = _scope_field()

    def validate_scope(self, value: Any) -> dict[str, list[str]]:
        return _valid_scope(value)

    class Meta:
        model = Grant
        fields = [
            "id",
            "group",
            "group_name",
            "user",
            "username",
            "role",
            "space",
            "instance",
            "scope",
            "created_at",
            "revoked_at",
            "rule",
            "targets",
        ]
        read_only_fields = ["id", "created_at", "revoked_at", "rule", "targets"]
        # Uniqueness of active grants is the database's job (services.grant reports it); DRF's
        # validators would wrongly make space and instance both required.
        validators: list[Any] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        user = getattr(request, "user", None)
        # What one may not see does not exist, here too.
        spaces = space_model().objects.filter(access.space_filter(user))
        instances = instance_model().objects.filter(access.instance_filter(user))
        self.fields["space"].queryset = spaces  # type: ignore[attr-defined]
        self.fields["instance"].queryset = instances  # type: ignore[attr-defined]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        _one_holder(attrs)
        if (attrs.get("space") is None) == (attrs.get("instance") is None):
            raise ValidationError("Give exactly one of space and instance.")
        return attrs


class BulkGrantSerializer(serializers.Serializer[Any]):
    group = serializers.PrimaryKeyRelatedField(
        queryset=Group.objects.all(), required=False, allow_null=True
    )
    user = _person_field()
    role = serializers.ChoiceField(choices=Role.choices)
    spaces = serializers.PrimaryKeyRelatedField(
        queryset=space_model().objects.none(), many=True, allow_empty=False
    )
    scope = _scope_field()

    def validate_scope(self, value: Any) -> dict[str, list[str]]:
        return _valid_scope(value)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        user = getattr(self.context.get("request"), "user", None)
        spaces = space_model().objects.filter(access.space_filter(user))
        self.fields["spaces"].child_relation.queryset = spaces  # type: ignore[attr-defined]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        _one_holder(attrs)
        return attrs

    def validate_spaces(self, spaces: list[Any]) -> list[Any]:
        if len(spaces) > 500:
            raise serializers.ValidationError("At most 500 spaces at a time.")
        return list({space.pk: space for space in spaces}.values())


def visible_grants(user: Any) -> QuerySet[Grant]:
    """Grants reaching a space or instance ``user`` can see."""
    if access.is_admin(user):
        return Grant.objects.all()
    return Grant.objects.filter(
        Q(space__in=space_model().objects.filter(access.space_filter(user)).values("pk"))
        | Q(instance__in=instance_model().objects.filter(access.instance_filter(user)).values("pk"))
    )


class GrantViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet[Grant],
):
    """A group's (or one person's: ``user``) role on a space or on every space of an
    instance, with its Octopus state per space. Deleting revokes (the Octopus team is removed
    after). Administrators, instance owners and space managers (for their spaces) may grant
    and revoke."""

    serializer_class = GrantSerializer
    permission_classes = [IsAuthenticatedUser]
    filterset_class = GrantFilter

    def get_queryset(self) -> QuerySet[Grant]:
        qs = visible_grants(self.request.user).select_related("group", "user")
        targets = access.visible_grant_targets(self.request.user).select_related("space")
        return qs.prefetch_related(Prefetch("targets", queryset=targets)).order_by("-created_at")

    def _check_may_change(self, space: Any, instance: Any) -> None:
        user = self.request.user
        if space is not None and access.can_manage_space(user, space):
            return
        if instance is not None and access.can_manage_instance(user, instance):
            return
        raise PermissionDenied("Only managers of this space (or its instance) may do that.")

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        self._check_may_change(data.get("space"), data.get("instance"))
        grant = services.grant(
            data.get("group") or data["user"],
            data["role"],
            space=data.get("space"),
            instance=data.get("instance"),
            scope=data.get("scope"),
            actor=request.user,
            request=request._request,
        )
        grant = self.get_queryset().get(pk=grant.pk)
        return Response(self.get_serializer(grant).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=BulkGrantSerializer, responses={201: GrantSerializer(many=True)})
    @action(detail=False, methods=["post"], url_path="bulk", filter_backends=[])
    def bulk(self, request: Request) -> Response:
        """Give a group one role on many spaces at once: all of them, or none (a space the
        caller may not manage, or a grant that already exists, refuses the whole request)."""
        body = BulkGrantSerializer(data=request.data, context={"request": request})
        body.is_valid(raise_exception=True)
        data = body.validated_data
        for space in data["spaces"]:
            self._check_may_change(space, None)
        with transaction.atomic():
            made = [
                services.grant(
                    data.get("group") or data["user"],
                    data["role"],
                    space=space,
                    scope=data.get("scope"),
                    actor=request.user,
                    request=request._request,
                )
                for space in data["spaces"]
            ]
        grants = self.get_queryset().filter(pk__in=[g.pk for g in made])
        return Response(self.get_serializer(grants, many=True).data, status=201)

    def perform_destroy(self, instance: Grant) -> None:
        self._check_may_change(instance.space, instance.instance)
        services.revoke(instance, actor=self.request.user, request=self.request._request)


class RoleMappingSerializer(serializers.Serializer[dict[str, Any]]):
    role = serializers.ChoiceField(choices=Role.choices, read_only=True)
    label = serializers.CharField(read_only=True)  # type: ignore[assignment]
    octopus_roles = serializers.ListField(
        child=serializers.CharField(max_length=200), allow_empty=False
    )


ROLE_PARAMETER = OpenApiParameter(
    "role", str, OpenApiParameter.PATH, enum=list(Role.values), description="An ODCM role"
)


@extend_schema_view(
    retrieve=extend_schema(parameters=[ROLE_PARAMETER]),
    update=extend_schema(parameters=[ROLE_PARAMETER]),
    partial_update=extend_schema(
        parameters=[ROLE_PARAMETER], request=RoleMappingSerializer, responses=RoleMappingSerializer
    ),
)
class RoleMappingViewSet(viewsets.ViewSet):
    """Which Octopus user roles (names or ids) each ODCM role gives. Administrators."""

    permission_classes = [IsAdmin]
    lookup_field = "role"
    serializer_class = RoleMappingSerializer

    @staticmethod
    def _row(role: str, mapping: dict[str, list[str]]) -> dict[str, Any]:
        return {"role": role, "label": Role(role).label, "octopus_roles": mapping.get(role, [])}

    @extend_schema(responses=RoleMappingSerializer(many=True))
    def list(self, request: Request) -> Response:
        mapping = teams.role_mapping()
        return Response([self._row(r, mapping) for r in Role.values])

    @extend_schema(responses=RoleMappingSerializer)
    def retrieve(self, request: Request, role: str | None = None) -> Response:
        if role not in Role.values:
            raise NotFound("No such role.")
        return Response(self._row(role, teams.role_mapping()))

    @extend_schema(request=RoleMappingSerializer, responses=RoleMappingSerializer)
    def update(self, request: Request, role: str | None = None) -> Response:
        if role not in Role.values:
            raise NotFound("No such role.")
        serializer = RoleMappingSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.set_role_mapping(
            role,
            serializer.validated_data["octopus_roles"],
            actor=request.user,
            request=request._request,
        )
        return Response(self._row(role, teams.role_mapping()))

    def partial_update(self, request: Request, role: str | None = None) -> Response:
        return self.update(request, role)


class UserSerializer(serializers.ModelSerializer[User]):
    groups = serializers.SerializerMethodField()
    external_groups = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = [
            "uuid",
            "username",
            "email",
            "first_name",
            "last_name",
            "is_active",
            "is_superuser",
            "last_login",
            "groups",
            "external_groups",
        ]
        read_only_fields = fields

    def get_groups(self, user: User) -> list[str]:
        return [g.name for g in user.odcm_groups.all()]

    def get_external_groups(self, user: User) -> list[dict[str, str]]:
        return [{"source": e.source, "value": e.value} for e in user.external_groups.all()]


class UserViewSet(viewsets.ReadOnlyModelViewSet[User]):
    """ODCM users, their groups and external groups; ``…/access/``: what they can access."""

    serializer_class = UserSerializer
    permission_classes = [IsAdmin]
    lookup_field = "uuid"
    filterset_class = UserFilter

    def get_queryset(self) -> QuerySet[User]:
        return User.objects.prefetch_related("odcm_groups", "external_groups").order_by("username")

    @extend_schema(responses=OpenApiTypes.OBJECT)
    @action(detail=True, methods=["get"])
    def access(self, request: Request, uuid: str | None = None) -> Response:
        user = self.get_object()
        return Response(
            {
                "user": user.username,
                "is_superuser": user.is_superuser,
                "groups": [g.name for g in access.user_groups(user)],
                "spaces": [
                    {
                        "space": str(row["space"].pk),
                        "name": row["space"].name,
                        "instance": row["space"].instance.name,
                        "role": row["role"],
                        "whole_space": row["whole_space"],
                        "grants": [
                            {k: g[k] for k in ("via", "role", "target", "scope")}
                            for g in row["grants"]
                        ],
                    }
                    for row in access.access_report(user)
                ],
            }
        )


class SpaceAccessView(APIView):
    """Who can access a space, and through which grant. Its managers and administrators."""

    permission_classes = [IsAuthenticatedUser]

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, space_id: str) -> Response:
        space = get_object_or_404(
            space_model().objects.filter(access.space_filter(request.user)), pk=space_id
        )
        if not access.can_manage_space(request.user, space):
            raise PermissionDenied("Only this space's managers may see who can access it.")
        who = access.who_can_access(space)
        return Response(
            {
                "space": str(space.pk),
                "grants": [
                    {
                        "grant": str(row["grant"].pk),
                        "group": row["group"].name if row["group"] else None,
                        "user": row["person"].username if row["person"] else None,
                        "role": row["role"],
                        "scope": row["scope"],
                        "narrowed": row["grant"].scope,
                        "users": row["users"],
                    }
                    for row in who["grants"]
                ],
                "owners": who["owners"],
                "admins": who["admins"],
            }
        )
