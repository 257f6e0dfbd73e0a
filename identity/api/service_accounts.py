"""API: service accounts (owned by a group) and their scoped tokens."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from identity import access
from identity.api.serializers import ApiTokenSerializer
from identity.models import ApiToken, Group, ServiceAccount
from identity.services import service_accounts
from identity.services.tokens import revoke_token
from odcm.api.permissions import IsAuthenticatedUser


class ServiceAccountSerializer(serializers.ModelSerializer[ServiceAccount]):
    name = serializers.CharField(write_only=True, max_length=100)
    username = serializers.CharField(source="user.username", read_only=True)
    owner = serializers.PrimaryKeyRelatedField(queryset=Group.objects.all())

    class Meta:
        model = ServiceAccount
        fields = ["id", "name", "username", "owner", "description", "created_at"]
        read_only_fields = ["id", "username", "created_at"]


class RevokeSerializer(serializers.Serializer[Any]):
    token = serializers.UUIDField()


class ServiceAccountViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet[ServiceAccount],
):
    """Service accounts the caller manages (administrators: all; others: those their groups
    own). ``tokens`` lists and creates the account's tokens (shown once); ``revoke-token``
    revokes one."""

    serializer_class = ServiceAccountSerializer
    permission_classes = [IsAuthenticatedUser]
    lookup_value_regex = "[0-9a-f-]{36}"

    def get_queryset(self) -> QuerySet[ServiceAccount]:
        return service_accounts.manageable_by(self.request.user).order_by("user__username")

    def perform_create(self, serializer: Any) -> None:
        data = serializer.validated_data
        user = self.request.user
        if not (access.is_admin(user) or access.user_groups(user).filter(pk=data["owner"].pk)):
            raise PermissionDenied("Only administrators and the owner group's members may.")
        serializer.instance = service_accounts.create_service_account(
            name=data["name"],
            owner=data["owner"],
            description=data.get("description", ""),
            actor=self.request.user,
            request=self.request._request,
        )

    # GET lists (200), POST creates (201, the plaintext shown once): declared per method so
    # the schema names the status each really answers.
    @extend_schema(methods=["GET"], responses=ApiTokenSerializer(many=True))
    @extend_schema(
        methods=["POST"], request=ApiTokenSerializer, responses={201: ApiTokenSerializer}
    )
    @action(detail=True, methods=["get", "post"], serializer_class=ApiTokenSerializer)
    def tokens(self, request: Request, pk: str | None = None) -> Response:
        account = self.get_object()
        if request.method == "GET":
            rows = ApiToken.objects.filter(user=account.user).prefetch_related(
                "instances", "spaces"
            )
            return Response(ApiTokenSerializer(rows, many=True).data)
        # The token is limited to what the account itself can see.
        context = {**self.get_serializer_context(), "request": _As(account.user)}
        serializer = ApiTokenSerializer(data=request.data, context=context)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        token, plaintext = service_accounts.create_service_token(
            account,
            actor=request.user,
            request=request._request,
            name=data["name"],
            expires_days=data.get("expires_days"),
            read_only=data.get("read_only", False),
            areas=data.get("areas", []),
            instances=data.get("instances", []),
            spaces=data.get("spaces", []),
        )
        body = dict(ApiTokenSerializer(token).data)
        body["token"] = plaintext
        response = Response(body, status=status.HTTP_201_CREATED)
        response["Cache-Control"] = "no-store"
        return response

    @extend_schema(request=RevokeSerializer, responses=ApiTokenSerializer)
    @action(
        detail=True, methods=["post"], url_path="revoke-token", serializer_class=RevokeSerializer
    )
    def revoke_token(self, request: Request, pk: str | None = None) -> Response:
        account = self.get_object()
        serializer = RevokeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        token = ApiToken.objects.filter(
            user=account.user, pk=serializer.validated_data["token"]
        ).first()
        if token is None:
            return Response(
                {"detail": "No such token on this service account."},
                status=status.HTTP_404_NOT_FOUND,
            )
        revoke_token(token, actor=request.user, request=request._request)
        return Response(ApiTokenSerializer(token).data)


class _As:
    """A request seen as another user: the token serializer limits instance and space
    choices to what that user (the service account) can see."""

    def __init__(self, user: Any) -> None:
        self.user = user
