from rest_framework import serializers

from identity.models import ApiToken, User


class MeSerializer(serializers.ModelSerializer[User]):
    class Meta:
        model = User
        fields = ["uuid", "username", "email", "first_name", "last_name", "is_superuser"]
        read_only_fields = fields


class ApiTokenSerializer(serializers.ModelSerializer[ApiToken]):
    expires_days = serializers.IntegerField(
        write_only=True, required=False, allow_null=True, min_value=1, max_value=3650
    )
    token = serializers.CharField(read_only=True, help_text="Returned once, on creation.")

    class Meta:
        model = ApiToken
        fields = [
            "id",
            "name",
            "prefix",
            "read_only",
            "created_at",
            "expires_at",
            "last_used_at",
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
            "revoked_at",
        ]
