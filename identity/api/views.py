"""API: who am I, and my personal tokens."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from identity.api.filters import TokenFilter
from identity.api.serializers import ApiTokenSerializer, MeSerializer
from identity.models import ApiToken
from identity.services.tokens import create_token, revoke_token
from odcm.api.permissions import IsAuthenticatedUser


class MeView(APIView):
    permission_classes = [IsAuthenticatedUser]

    @extend_schema(responses=MeSerializer)
    def get(self, request: Request) -> Response:
        return Response(MeSerializer(request.user).data)  # type: ignore[arg-type]


class ApiTokenViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet[ApiToken],
):
    """The caller's own API tokens. Creating returns the token once; revoke with POST …/revoke/."""

    serializer_class = ApiTokenSerializer
    permission_classes = [IsAuthenticatedUser]
    filterset_class = TokenFilter

    def get_queryset(self) -> QuerySet[ApiToken]:
        return (
            ApiToken.objects.filter(user=self.request.user.pk)
            .prefetch_related("instances", "spaces")
            .order_by("-created_at", "pk")
        )

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        token, plaintext = create_token(
            request.user,  # type: ignore[arg-type]
            name=serializer.validated_data["name"],
            expires_days=serializer.validated_data.get("expires_days"),
            read_only=serializer.validated_data.get("read_only", False),
            areas=serializer.validated_data.get("areas", []),
            instances=serializer.validated_data.get("instances", []),
            spaces=serializer.validated_data.get("spaces", []),
            request=request._request,
        )
        data = dict(ApiTokenSerializer(token).data)
        data["token"] = plaintext
        response = Response(data, status=status.HTTP_201_CREATED)
        response["Cache-Control"] = "no-store"
        return response

    @extend_schema(request=None, responses=ApiTokenSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, pk: str | None = None) -> Response:
        token = self.get_object()
        revoke_token(token, request=request._request)
        return Response(ApiTokenSerializer(token).data)
