"""Shared step templates, delivered as action templates matched by name.

Content is the portable part of an Octopus step template export: ``Name``, ``Description``,
``ActionType``, ``Packages``, ``Parameters`` and ``Properties``. Server-assigned fields (``Id``,
``Version``, ``SpaceId``, ``Links``, ``$Meta``, ``CommunityActionTemplateId``) are dropped on
import. Octopus bumps an action template's ``Version`` on every save, which is what the drift
check compares with the ``Version`` ODCM last wrote.
"""

from __future__ import annotations

import json
from typing import Any

from octopus import NotFound, ValidationFailed

from .base import Change, ContentError, CountingClient, Inspection, Target, Written

FIELDS = ("Name", "Description", "ActionType", "Packages", "Parameters", "Properties")
PARAMETER_FIELDS = ("Name", "Label", "HelpText", "DefaultValue", "DisplaySettings")


def _canonical_parameters(params: Any) -> list[dict[str, Any]]:
    out = []
    for p in params or []:
        if isinstance(p, dict):
            out.append(
                {
                    f: p.get(f) if f != "DisplaySettings" else (p.get(f) or {})
                    for f in PARAMETER_FIELDS
                }
            )
    return out


def _canonical(doc: dict[str, Any]) -> dict[str, Any]:
    """The fields that make a step template what it is, in a comparable form (documents from
    Octopus of an unexpected shape compare as empty rather than fail)."""
    props = doc.get("Properties")
    packages = doc.get("Packages")
    return {
        "Name": str(doc.get("Name") or "").strip(),
        "Description": doc.get("Description") or "",
        "ActionType": doc.get("ActionType") or "",
        "Packages": list(packages) if isinstance(packages, list) else [],
        "Parameters": _canonical_parameters(doc.get("Parameters")),
        # Sensitive properties come back from Octopus as SensitiveValue objects; they cannot be
        # shared (ODCM never learns the value) and are left out of content and comparisons.
        "Properties": {k: v for k, v in sorted(props.items()) if isinstance(v, str)}
        if isinstance(props, dict)
        else {},
    }


def shape_errors(doc: dict[str, Any]) -> list[str]:
    """What is of the wrong type in authored content: each a sentence naming the field."""
    errors = [
        f"{field} must be text."
        for field in ("Name", "Description", "ActionType")
        if doc.get(field) is not None and not isinstance(doc[field], str)
    ]
    for field in ("Packages", "Parameters"):
        value = doc.get(field)
        if value is not None and not (
            isinstance(value, list) and all(isinstance(v, dict) for v in value)
        ):
            errors.append(f"{field} must be a list of objects.")
    if doc.get("Properties") is not None and not isinstance(doc["Properties"], dict):
        errors.append("Properties must be an object of names and values.")
    return errors


class StepTemplateKind:
    key = "step_template"
    label = "Step template"

    def clean(
        self,
        content: dict[str, Any],
        previous: dict[str, Any],
        previous_secrets: dict[str, str],
    ) -> tuple[dict[str, Any], dict[str, str]]:
        if not isinstance(content, dict):
            raise ContentError(["A step template must be a JSON object."])
        errors = shape_errors(content)
        if errors:
            raise ContentError(errors)
        canonical = _canonical(content)
        if not canonical["Name"]:
            errors.append("The step template has no Name.")
        if not canonical["ActionType"]:
            errors.append("The step template has no ActionType.")
        if errors:
            raise ContentError(errors)
        return canonical, {}

    def summary(self, content: dict[str, Any]) -> str:
        return f"{content.get('ActionType', '')}, {len(content.get('Parameters', []))} parameters"

    def deliver(
        self,
        client: CountingClient,
        target: Target,
        content: dict[str, Any],
        secrets: dict[str, str],
        secrets_digest: str,
    ) -> Written:
        doc = self._locate(client, target)
        wanted = dict(content, Name=target.name)
        space = target.space_id
        if doc is None:
            try:
                saved = client.post(f"/api/{space}/actiontemplates", wanted)
            except ValidationFailed:
                doc = self._find_by_name(client, target)  # created by a concurrent delivery
                if doc is None:
                    raise
            else:
                return Written(True, saved["Id"], "", saved.get("Version"))
        if _canonical(doc) == _canonical(wanted):
            return Written(False, doc["Id"], "", doc.get("Version"))
        body = {k: v for k, v in doc.items() if k != "Links"}
        body.update(wanted)
        # Keep the subscriber's stored sensitive property values (SensitiveValue objects).
        body["Properties"] = {
            **{k: v for k, v in (doc.get("Properties") or {}).items() if not isinstance(v, str)},
            **wanted["Properties"],
        }
        saved = client.put(f"/api/{space}/actiontemplates/{doc['Id']}", body)
        return Written(True, doc["Id"], "", saved.get("Version") if saved else None)

    def inspect(
        self, client: CountingClient, target: Target, content: dict[str, Any]
    ) -> Inspection:
        doc = self._locate(client, target)
        if doc is None:
            return Inspection(
                [{"name": target.name, "change": "The step template is gone from Octopus."}],
                missing=True,
            )
        current, wanted = _canonical(doc), _canonical(dict(content, Name=target.name))
        differences = [
            {"name": field, "change": "changed in Octopus"}
            for field in FIELDS
            if current[field] != wanted[field]
        ]
        version = doc.get("Version")
        if (
            not differences
            and target.octopus_version is not None
            and version != target.octopus_version
        ):
            differences.append(
                {
                    "name": "Version",
                    "change": f"saved in Octopus since ODCM wrote it "
                    f"({target.octopus_version} → {version})",
                }
            )
        return Inspection(differences)

    def _locate(self, client: CountingClient, target: Target) -> dict[str, Any] | None:
        if target.octopus_id:
            try:
                doc: dict[str, Any] = client.get(
                    f"/api/{target.space_id}/actiontemplates/{target.octopus_id}"
                )
                return doc
            except NotFound:
                pass
        return self._find_by_name(client, target)

    @staticmethod
    def _find_by_name(client: CountingClient, target: Target) -> dict[str, Any] | None:
        page = client.get(
            f"/api/{target.space_id}/actiontemplates", {"partialName": target.name, "take": 1000}
        )
        wanted = target.name.strip().lower()
        return next(
            (i for i in page.get("Items", []) if str(i.get("Name", "")).strip().lower() == wanted),
            None,
        )

    def diff(
        self,
        old: dict[str, Any],
        old_secrets: dict[str, str],
        new: dict[str, Any],
        new_secrets: dict[str, str],
    ) -> list[Change]:
        changes = []
        for field in FIELDS:
            if old.get(field) != new.get(field):
                before, after = old.get(field), new.get(field)
                changes.append(
                    Change(
                        field,
                        "changed",
                        [{"field": field, "old": _show(before), "new": _show(after)}],
                    )
                )
        return changes


def _show(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, indent=1, sort_keys=True)


def from_export(data: Any) -> dict[str, Any]:
    """Content from an Octopus step template JSON export (or a community template file)."""
    if not isinstance(data, dict):
        raise ContentError(["The file is not a step template export (expected a JSON object)."])
    return StepTemplateKind().clean(data, {}, {})[0]
