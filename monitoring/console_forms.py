"""The instances console's bulk-action form: which instances, which action, its input."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.contrib.auth import get_user_model

from monitoring.services.console import ACTIONS
from spaces.models import Instance

TAG = re.compile(r"^[\w.-]{1,50}$")


def _tags(text: str) -> list[str]:
    names = [t.strip() for t in re.split(r"[,\s]+", text or "") if t.strip()]
    bad = [t for t in names if not TAG.match(t)]
    if bad:
        raise forms.ValidationError(
            f"Not a tag: {', '.join(bad)} (letters, digits, '.', '-', '_'; up to 50)."
        )
    return names


class SecretTextarea(forms.Textarea):
    """A textarea that never renders what was posted back into the page (new API keys)."""

    def format_value(self, value: Any) -> str | None:
        return None


KEY_LINE = re.compile(r"^(?P<name>.+?)[\s,;=]+(?P<key>\S+)$")


def _keys(text: str) -> dict[str, str]:
    """``name key`` lines (name or URL, then the key; blank lines and # comments skipped),
    by lower-cased name. Errors name the line and the instance, never the key."""
    keys: dict[str, str] = {}
    for number, raw in enumerate((text or "").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        found = KEY_LINE.match(line)
        if not found:
            raise forms.ValidationError(
                f"Line {number}: give the instance's name (or URL), then its new key."
            )
        name = found["name"].strip().rstrip("/").lower()
        if name in keys:
            raise forms.ValidationError(f"Line {number}: {found['name'].strip()} is named twice.")
        keys[name] = found["key"]
    return keys


class BulkForm(forms.Form):
    """One action for the chosen instances; only the fields of that action are required."""

    instances = forms.ModelMultipleChoiceField(queryset=Instance.objects.none())
    action = forms.ChoiceField(choices=list(ACTIONS.items()))
    pinned_version = forms.CharField(
        max_length=50, required=False, label="Version pin", help_text="Blank removes the pin."
    )
    starts_at = forms.DateTimeField(
        required=False, label="Starts (UTC)",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )  # fmt: skip
    ends_at = forms.DateTimeField(
        required=False, label="Ends (UTC)",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )  # fmt: skip
    reason = forms.CharField(max_length=200, required=False)
    add_tags = forms.CharField(max_length=500, required=False, label="Add tags")
    remove_tags = forms.CharField(max_length=500, required=False, label="Remove tags")
    owners = forms.ModelMultipleChoiceField(
        queryset=get_user_model().objects.filter(is_active=True).order_by("username"),
        required=False,
        help_text="Replaces the owners of every chosen instance; none: administrators only.",
    )

    new_keys = forms.CharField(
        required=False,
        max_length=100_000,
        label="New API keys",
        widget=SecretTextarea,
        help_text="One line per instance: its name (or URL), then its new key.",
    )

    def __init__(self, *args: Any, instances: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if instances is not None:
            self.fields["instances"].queryset = instances  # type: ignore[attr-defined]

    def clean_add_tags(self) -> list[str]:
        return _tags(self.cleaned_data.get("add_tags", ""))

    def clean_remove_tags(self) -> list[str]:
        return _tags(self.cleaned_data.get("remove_tags", ""))

    def clean_new_keys(self) -> dict[str, str]:
        return _keys(self.cleaned_data.get("new_keys", ""))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        action = data.get("action")
        if action == "rotate" and "new_keys" in data:
            _check_keys(data["new_keys"], data.get("instances") or [])
        if action == "window":
            start, end = data.get("starts_at"), data.get("ends_at")
            if not start or not end:
                raise forms.ValidationError("A maintenance window needs a start and an end.")
            if end <= start:
                raise forms.ValidationError("The window must end after it starts.")
        if action == "tags" and not (data.get("add_tags") or data.get("remove_tags")):
            raise forms.ValidationError("Name a tag to add or to remove.")
        return data


def _check_keys(keys: dict[str, str], instances: Any) -> None:
    """Every line names a selected instance (a key meant for another one is refused whole)."""
    if not keys:
        raise forms.ValidationError("Give each selected instance's new key, one per line.")
    known: set[str] = set()
    for instance in instances:
        known |= {instance.name.lower(), instance.base_url.rstrip("/").lower()}
    stray = sorted(name for name in keys if name not in known)
    if stray:
        raise forms.ValidationError(
            f"No selected instance is named {', '.join(stray)}; nothing was changed."
        )
