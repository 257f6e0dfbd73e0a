"""API representations. Sensitive values are write-only: read back as ``has_value``."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from sharing.models import Delivery, Revision, SharedItem, Subscription, Trust
from sharing.secrets import secrets_of


def public_content(kind: str, content: dict[str, Any], secrets_present: set[str]) -> Any:
    """A revision's content as shown to people: sensitive variables say only "has value"."""
    if kind != SharedItem.Kind.VARIABLE_SET:
        return content
    shown = []
    for var in content.get("variables", []):
        row = dict(var)
        if var["type"] == "Sensitive":
            row.pop("value", None)
            row["has_value"] = var["key"] in secrets_present
        shown.append(row)
    return {"variables": shown}


class TrustSerializer(serializers.ModelSerializer[Trust]):
    # Plain ids: whether an id exists is answered by the view (404 unless visible).
    publisher = serializers.UUIDField(source="publisher_id")
    subscriber = serializers.UUIDField(source="subscriber_id")
    publisher_name = serializers.CharField(source="publisher.name", read_only=True)
    subscriber_name = serializers.CharField(source="subscriber.name", read_only=True)

    class Meta:
        model = Trust
        fields = [
            "id",
            "publisher",
            "publisher_name",
            "subscriber",
            "subscriber_name",
            "state",
            "via_tag",
            "created_at",
            "accepted_at",
            "revoked_at",
        ]
        read_only_fields = ["state", "via_tag", "created_at", "accepted_at", "revoked_at"]


class TrustByTagSerializer(serializers.Serializer[Any]):
    publisher = serializers.UUIDField()
    tag = serializers.CharField(max_length=50)


class ItemSerializer(serializers.ModelSerializer[SharedItem]):
    publisher = serializers.UUIDField(source="publisher_id")
    publisher_name = serializers.CharField(source="publisher.name", read_only=True)
    needs_values = serializers.SerializerMethodField()

    class Meta:
        model = SharedItem
        fields = [
            "id",
            "kind",
            "publisher",
            "publisher_name",
            "name",
            "description",
            "policy",
            "latest_revision",
            "paused",
            "needs_values",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["latest_revision", "paused", "created_at", "updated_at"]

    def get_needs_values(self, item: SharedItem) -> list[str]:
        return list((item.draft or {}).get("needs_values", []))


class ItemUpdateSerializer(serializers.ModelSerializer[SharedItem]):
    class Meta:
        model = SharedItem
        fields = ["description", "policy", "paused"]


class RevisionSerializer(serializers.ModelSerializer[Revision]):
    content = serializers.SerializerMethodField()

    class Meta:
        model = Revision
        fields = ["number", "comment", "content", "created_at"]

    def get_content(self, revision: Revision) -> Any:
        present = set(secrets_of(revision)) if revision.secrets else set()
        return public_content(revision.item.kind, revision.content, present)


class PublishSerializer(serializers.Serializer[Any]):
    content = serializers.JSONField(
        help_text='Variable set: {"variables": [{key?, name, type, value, description, '
        "scope: {environments, roles, tenant_tags}}]} (a sensitive variable without a value "
        "keeps its previous one). Step template: the template's JSON."
    )
    comment = serializers.CharField(max_length=300, required=False, allow_blank=True)

    def validate_content(self, value: Any) -> Any:
        return json_object(value)


def json_object(value: Any) -> Any:
    if not isinstance(value, dict):
        raise serializers.ValidationError("Give a JSON object.")
    return value


MAX_REVISION = 2**31 - 1

# ``from`` is a Python keyword: the query serializer of the diff is built from a dict.
DiffQuerySerializer = type(
    "DiffQuerySerializer",
    (serializers.Serializer,),
    {
        "from": serializers.IntegerField(min_value=0, max_value=MAX_REVISION, required=False),
        "to": serializers.IntegerField(min_value=1, max_value=MAX_REVISION, required=False),
    },
)


class ImportVariableSetSerializer(serializers.Serializer[Any]):
    publisher = serializers.UUIDField()
    library_variable_set_id = serializers.RegexField(r"^[A-Za-z]+-\d+$")
    policy = serializers.ChoiceField(SharedItem.Policy.choices, default=SharedItem.Policy.PUSH)


class ImportStepTemplateSerializer(serializers.Serializer[Any]):
    publisher = serializers.UUIDField()
    template = serializers.JSONField(required=False, help_text="An Octopus step template export.")
    source_space = serializers.UUIDField(required=False)
    action_template_id = serializers.RegexField(r"^[A-Za-z]+-\d+$", required=False)
    policy = serializers.ChoiceField(SharedItem.Policy.choices, default=SharedItem.Policy.PUSH)

    def validate_template(self, value: Any) -> Any:
        return json_object(value)


class ChangeSerializer(serializers.Serializer[Any]):
    name = serializers.CharField()
    change = serializers.CharField()
    details = serializers.ListField(child=serializers.DictField())


class SubscriptionSerializer(serializers.ModelSerializer[Subscription]):
    item = serializers.UUIDField(source="item_id")
    space = serializers.UUIDField(source="space_id")
    item_name = serializers.CharField(source="item.name", read_only=True)
    space_name = serializers.CharField(source="space.name", read_only=True)
    latest_revision = serializers.IntegerField(source="item.latest_revision", read_only=True)
    effective_mode = serializers.CharField(read_only=True)
    update_available = serializers.BooleanField(read_only=True)

    class Meta:
        model = Subscription
        fields = [
            "id",
            "item",
            "item_name",
            "space",
            "space_name",
            "mode",
            "effective_mode",
            "pinned_revision",
            "status",
            "target_revision",
            "delivered_revision",
            "latest_revision",
            "update_available",
            "error_class",
            "error_message",
            "failing_since",
            "next_retry_at",
            "drift",
            "drift_checked_at",
            "last_synced_at",
            "octopus_id",
            "rule",
            "created_at",
        ]
        read_only_fields = [
            f for f in fields if f not in ("item", "space", "mode", "pinned_revision")
        ]


class BulkSubscribeSerializer(serializers.Serializer[Any]):
    item = serializers.UUIDField()
    spaces = serializers.ListField(child=serializers.UUIDField(), allow_empty=False, max_length=500)
    mode = serializers.ChoiceField(Subscription.Mode.choices, default=Subscription.Mode.AUTOMATIC)


class SubscriptionChangeSerializer(serializers.Serializer[Any]):
    mode = serializers.ChoiceField(Subscription.Mode.choices, required=False)
    pinned_revision = serializers.IntegerField(required=False, allow_null=True, min_value=1)


class SyncSerializer(serializers.Serializer[Any]):
    revision = serializers.IntegerField(required=False, min_value=1)


class DeliverySerializer(serializers.ModelSerializer[Delivery]):
    class Meta:
        model = Delivery
        fields = [
            "id",
            "revision",
            "trigger",
            "outcome",
            "error_class",
            "message",
            "requests",
            "started_at",
            "finished_at",
            "duration_ms",
        ]
        read_only_fields = fields


class BrokerSerializer(serializers.Serializer[Any]):
    paused = serializers.BooleanField()
    failed = serializers.IntegerField(read_only=True)
    drifted = serializers.IntegerField(read_only=True)
