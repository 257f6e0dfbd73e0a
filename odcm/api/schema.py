"""OpenAPI: the one error body, declared on every operation with the statuses it can have."""

from __future__ import annotations

from typing import Any

ERROR_BODY = {
    "type": "object",
    "description": "Every error of the API (see docs/architecture.md, API conventions).",
    "properties": {
        "code": {"type": "string", "description": "Stable, for programs"},
        "message": {"type": "string", "description": "For people"},
        "detail": {"type": "string", "description": "The message again, for DRF clients"},
        "errors": {
            "type": "object",
            "description": "Invalid input only: messages per field (non_field_errors: the "
            "request as a whole)",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
    },
    "required": ["code", "message", "detail"],
}
REASONS = {
    "400": "Invalid input: a parameter or body field (named in errors), or a refusal",
    "401": "Not signed in, or the token is unknown, expired or revoked",
    "403": "Signed in but not allowed (or a read-only token writing)",
    "404": "No such object, or not visible to the caller",
    "409": "A conflicting change",
    "413": "The body is larger than the server accepts",
    "415": "The body is not JSON, a form or multipart",
    "502": "Octopus could not be reached or failed",
}
WRITES = {"post", "put", "patch", "delete"}


def add_error_responses(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """drf-spectacular post-processing hook: the error body and the statuses it comes with."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_BODY
    ref = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            statuses = ["400", "401", "403", "404"]
            if method in WRITES:
                statuses += ["409", "413", "415", "502"]
            responses = operation.setdefault("responses", {})
            for status in statuses:
                responses.setdefault(status, {"description": REASONS[status], "content": ref})
    return result


def single_object_schema() -> Any:
    """A schema for viewsets whose ``list`` answers one object (the broker's counts), which
    drf-spectacular would otherwise describe as an array."""
    from drf_spectacular.openapi import AutoSchema

    class SingleObjectSchema(AutoSchema):
        def _is_list_view(self, serializer: Any = None) -> bool:
            return False

    return SingleObjectSchema()
