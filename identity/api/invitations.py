"""API: invitations of outside people (administrators). The link's secret is only emailed."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from identity.models import Invitation
from identity.services import invitations
from odcm.api.permissions import IsAdmin


class InvitationSerializer(serializers.ModelSerializer[Invitation]):
    state = serializers.CharField(read_only=True)
    days = serializers.IntegerField(
        write_only=True, required=False, default=7, min_value=1, max_value=invitations.MAX_DAYS
    )
    grants = serializers.ListField(
        child=serializers.DictField(),
        required=False,
        help_text=(
            'What the person receives on accepting, theirs alone: [{"role": "deployer", '
            '"space": "<id>" or "instance": "<id>" or "tag": "<name>" or "region": "<name>", '
            '"scope": {"environments": [...]}}]. A tag or region becomes a rule for them: '
            "instances tagged or moved there later are theirs too."
        ),
    )
    accepted_by = serializers.CharField(source="accepted_by.username", read_only=True, default=None)

    class Meta:
        model = Invitation
        fields = [
            "id",
            "email",
            "provider",
            "grants",
            "message",
            "days",
            "state",
            "expires_at",
            "created_at",
            "sent_at",
            "send_error",
            "accepted_at",
            "accepted_by",
            "revoked_at",
        ]
        read_only_fields = [
            "id",
            "state",
            "expires_at",
            "created_at",
            "sent_at",
            "send_error",
            "accepted_at",
            "accepted_by",
            "revoked_at",
        ]


class InvitationViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet[Invitation],
):
    """Invite an outside person by email to sign in through a named external OpenID Connect
    provider (``provider``: one of ODCM's), with an expiry and grants. Deleting withdraws."""

    serializer_class = InvitationSerializer
    permission_classes = [IsAdmin]
    queryset = Invitation.objects.select_related("accepted_by").order_by("-created_at")

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        try:
            row, _ = invitations.create(
                email=data["email"],
                provider=data["provider"],
                grants=data.get("grants", []),
                days=data.get("days", 7),
                message=data.get("message", ""),
                actor=request.user,
                request=request._request,
            )
        except invitations.InvitationError as exc:
            raise ValidationError(exc.errors or str(exc)) from None
        row.refresh_from_db()
        return Response(self.get_serializer(row).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance: Invitation) -> None:
        invitations.revoke(instance, actor=self.request.user, request=self.request._request)

    @extend_schema(request=None, responses=InvitationSerializer)
    @action(detail=True, methods=["post"])
    def resend(self, request: Request, pk: str | None = None) -> Response:
        """A new link (the old one stops working), emailed again."""
        row = self.get_object()
        try:
            invitations.resend(row, actor=request.user, request=request._request)
        except invitations.InvitationError as exc:
            raise ValidationError(str(exc)) from None
        row.refresh_from_db()
        return Response(self.get_serializer(row).data)
