"""The declared fleet's schema (version 1), published at ``/api/v1/config/schema/``.

One JSON Schema validates a file's shape (every error with its line, see ``document.py``) and
serves editors for completion. Names, not ids, refer to objects: an instance by its name, a
space by ``{instance, space}``, a user by username, so a file can be applied to an empty ODCM.
"""

from __future__ import annotations

from typing import Any

from sharing.kinds.variable_set import TYPES as VARIABLE_TYPES

VERSION = 1
# Schema versions this ODCM reads; a file outside the range is refused naming both.
SUPPORTED_VERSIONS = (1, 1)

SECRET_REF: dict[str, Any] = {
    "description": "A secret, never inline: the name of an environment variable or a file.",
    "type": "object",
    "additionalProperties": False,
    "minProperties": 1,
    "maxProperties": 1,
    "properties": {
        "env": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
        "file": {"type": "string", "minLength": 1},
    },
}

NAME = {"type": "string", "minLength": 1, "maxLength": 200}
NAMES = {"type": "array", "items": NAME, "uniqueItems": True}

SPACE_REF: dict[str, Any] = {
    "description": "A space, by its instance's name and its own name.",
    "type": "object",
    "additionalProperties": False,
    "required": ["instance", "space"],
    "properties": {"instance": NAME, "space": NAME},
}

ROLE = {"enum": ["viewer", "deployer", "manager"]}

WINDOW: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["starts_at", "ends_at"],
    "properties": {
        "starts_at": {"type": "string", "format": "date-time"},
        "ends_at": {"type": "string", "format": "date-time"},
        "reason": {"type": "string", "maxLength": 200},
    },
}

INSTANCE: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "url", "api_key"],
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 100},
        "url": {"type": "string", "minLength": 1, "maxLength": 500},
        "api_key": SECRET_REF,
        "region": {"type": "string", "maxLength": 100},
        "description": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 50}},
        "owners": NAMES,
        "enlist_new_spaces": {"type": "boolean"},
        "version_pin": {"type": "string", "maxLength": 50},
        "maintenance_windows": {"type": "array", "items": WINDOW},
        "spaces": {
            "description": "Spaces of the instance and whether ODCM enlists them.",
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name", "enlisted"],
                "properties": {"name": NAME, "enlisted": {"type": "boolean"}},
            },
        },
    },
}

# Narrows a grant inside each space, as Octopus's scoped user roles do (names, not ids).
SCOPE: dict[str, Any] = {
    "description": "Names of environments, projects, project groups and tenants the role is "
    "limited to inside each space; left out: the whole space.",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        key: {"type": "array", "items": NAME, "uniqueItems": True}
        for key in ("environments", "projects", "project_groups", "tenants")
    },
}

GRANT: dict[str, Any] = {
    "description": "A role on one space (instance and space) or on every space of an instance.",
    "type": "object",
    "additionalProperties": False,
    "required": ["role", "instance"],
    "properties": {"role": ROLE, "instance": NAME, "space": NAME, "scope": SCOPE},
}

GRANT_RULE: dict[str, Any] = {
    "description": "A role on every instance carrying a tag, or in a region, now and later.",
    "type": "object",
    "additionalProperties": False,
    "required": ["role"],
    "minProperties": 2,
    "properties": {
        "role": ROLE,
        "tag": {"type": "string", "minLength": 1, "maxLength": 100},
        "region": {"type": "string", "minLength": 1, "maxLength": 100},
        "scope": SCOPE,
    },
    "oneOf": [{"required": ["tag"]}, {"required": ["region"]}],
}

PERSON: dict[str, Any] = {
    "description": "Grants to one person (by username; people sign in, they are not declared).",
    "type": "object",
    "additionalProperties": False,
    "required": ["user"],
    "properties": {
        "user": NAME,
        "grants": {"type": "array", "items": GRANT},
        "grant_rules": {"type": "array", "items": GRANT_RULE},
    },
}

GROUP: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 100},
        "description": {"type": "string"},
        "external_groups": {"type": "array", "items": {"type": "string", "minLength": 1}},
        "members": NAMES,
        "grants": {"type": "array", "items": GRANT},
        "grant_rules": {"type": "array", "items": GRANT_RULE},
    },
}

SERVICE_ACCOUNT: dict[str, Any] = {
    "description": "Automation's own identity (user svc-<name>), owned by a group whose members "
    "manage it. Its tokens are secrets: never declared, made on its page or through the API.",
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "owner"],
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 100},
        "owner": {"type": "string", "minLength": 1, "maxLength": 100},
        "description": {"type": "string"},
        "active": {"type": "boolean"},
    },
}

INVITATION: dict[str, Any] = {
    "description": "A pending invitation of an outside person, matched by email; one already "
    "accepted is left alone. The link's key is only in the email.",
    "type": "object",
    "additionalProperties": False,
    "required": ["email", "provider", "expires_at"],
    "properties": {
        "email": {"type": "string", "minLength": 3, "maxLength": 254},
        "provider": {"type": "string", "minLength": 1, "maxLength": 100},
        "expires_at": {"type": "string", "format": "date-time"},
        "message": {"type": "string", "maxLength": 2000},
        # A role on a space or instance, or (as a rule for them once they accept) on every
        # instance with a tag or in a region.
        "grants": {"type": "array", "items": {"oneOf": [GRANT, GRANT_RULE]}},
    },
}

VARIABLE: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "minLength": 1},
        # Accounts, certificates and worker pools are named (shared by name, like environments).
        "type": {"enum": list(VARIABLE_TYPES)},
        "value": {
            "description": "Plain text, or for a Sensitive variable a secret reference.",
            "oneOf": [{"type": ["string", "null"]}, SECRET_REF],
        },
        "description": {"type": "string"},
        "scope": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "environments": {"type": "array", "items": {"type": "string"}},
                "roles": {"type": "array", "items": {"type": "string"}},
                "tenant_tags": {"type": "array", "items": {"type": "string"}},
            },
        },
    },
}

SUBSCRIPTION: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["instance", "space"],
    "properties": {
        "instance": NAME,
        "space": NAME,
        "mode": {"enum": ["automatic", "on_demand"]},
        "pinned_revision": {"type": ["integer", "null"], "minimum": 1},
    },
}

SHARED_ITEM: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "kind", "publisher", "content"],
    "properties": {
        "name": NAME,
        "kind": {"enum": ["variable_set", "step_template"]},
        "publisher": SPACE_REF,
        "description": {"type": "string"},
        "policy": {"enum": ["push", "subscriber_chooses"]},
        "paused": {"type": "boolean"},
        "content": {
            "description": "variable_set: {variables: [...]}; step_template: Octopus's export.",
            "type": "object",
        },
        "subscriptions": {"type": "array", "items": SUBSCRIPTION},
    },
    "allOf": [
        {
            "if": {"properties": {"kind": {"const": "variable_set"}}},
            "then": {
                "properties": {
                    "content": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["variables"],
                        "properties": {"variables": {"type": "array", "items": VARIABLE}},
                    }
                }
            },
        }
    ],
}

TRUST: dict[str, Any] = {
    "description": "The publisher space shares with the subscriber space (accepted).",
    "type": "object",
    "additionalProperties": False,
    "required": ["publisher", "subscriber"],
    "properties": {"publisher": SPACE_REF, "subscriber": SPACE_REF},
}

ALERT_SETTINGS: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["user"],
    "properties": {
        "user": NAME,
        "on_offline": {"type": "boolean"},
        "on_unhealthy": {"type": "boolean"},
        "on_recovered": {"type": "boolean"},
        "on_version": {"type": "boolean"},
        "on_reminder": {"type": "boolean"},
        "owned_instances": {"type": "boolean"},
        "all_instances": {"type": "boolean"},
        "instances": NAMES,
    },
}

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "urn:odcm:fleet:1",
    "title": "ODCM fleet configuration",
    "description": "ODCM's configuration as code (see docs/config-as-code.md).",
    "type": "object",
    "additionalProperties": False,
    "required": ["version"],
    "properties": {
        "version": {"type": "integer"},
        "standard_environments": NAMES,
        "role_mappings": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                role: {"type": "array", "items": NAME, "minItems": 1} for role in ROLE["enum"]
            },
        },
        "instances": {"type": "array", "items": INSTANCE},
        "groups": {"type": "array", "items": GROUP},
        "people": {"type": "array", "items": PERSON},
        "service_accounts": {"type": "array", "items": SERVICE_ACCOUNT},
        "invitations": {"type": "array", "items": INVITATION},
        "trusts": {"type": "array", "items": TRUST},
        "shared_items": {"type": "array", "items": SHARED_ITEM},
        "alert_settings": {"type": "array", "items": ALERT_SETTINGS},
    },
}

# The sections a file may declare, in the order they are exported and applied.
SECTIONS = (
    "standard_environments",
    "role_mappings",
    "instances",
    "groups",
    "people",
    "service_accounts",
    "invitations",
    "trusts",
    "shared_items",
    "alert_settings",
)
