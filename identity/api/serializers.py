from typing import Any

from rest_framework import serializers

from identity import access
from identity.models import ApiToken, User, instance_model, space_model
from odcm.api.permissions import TOKEN_AREAS


class MeSerializer(serializers.ModelSerializer[User]):
    class Meta:
        model = User
        fields = ["uuid", "username", "email", "first_name", "last_name", "is_superuser"]
        read_only_fields = fields


class ApiTokenSerializer(serializers.ModelSerializer[ApiToken]):
    expires_days = serializers.IntegerField(
        write_only=True,
        required=False,
        allow_null=True,
        min_value=1,
        help_text="Days until it expires: at most ODCM_TOKEN_MAX_DAYS, which is the default.",
    )
    token = serializers.CharField(read_only=True, help_text="Returned once, on creation.")
    areas = serializers.ListField(
        child=serializers.ChoiceField(choices=sorted(TOKEN_AREAS)),
        required=False,
        help_text="API areas the token may use; empty: all.",
    )
    instances = serializers.PrimaryKeyRelatedField(
        many=True, required=False, queryset=instance_model().objects.none()
    )
    spaces = serializers.PrimaryKeyRelatedField(
        many=True, required=False, queryset=space_model().objects.none()
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        user = getattr(request, "user", None)
        # A token can only be limited to instances and spaces its owner can see.
        instances: Any = self.fields["instances"]
        spaces: Any = self.fields["spaces"]
        instances.child_relation.queryset = instance_model().objects.filter(
            access.instance_filter(user)
        )
        spaces.child_relation.queryset = space_model().objects.filter(access.space_filter(user))

    class Meta:
        model = ApiToken
        fields = [
            "id",
            "name",
            "prefix",
            "read_only",
            "areas",
            "instances",
            "spaces",
            "created_at",
            "expires_at",
            "last_used_at",
            "last_used_ip",
            "revoked_at",
            "expires_days",
            "token",
        ]
        read_only_fields = [
            "id",
            "prefix",
            "created_at",
            "expires_at",
            "last_used_at",
            "last_used_ip",
            "revoked_at",
        ]
