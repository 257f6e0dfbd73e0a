"""Forms for the sharing pages. The variable editor is a plain table of numbered rows."""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.http import QueryDict

from odcm.forms import SearchableSelect
from odcm.ui import space_label
from sharing.kinds import ContentError
from sharing.models import SharedItem, Subscription
from spaces.models import Space

EDITOR_FIELDS = (
    "key",
    "name",
    "type",
    "value",
    "environments",
    "roles",
    "tenant_tags",
    "description",
    "delete",
)
BLANK_ROWS = 3
MAX_EDITOR_ROWS = 5000


class SpaceChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return space_label(obj)


class BootstrapForm(forms.Form):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            css = "form-select" if isinstance(field.widget, forms.Select) else "form-control"
            field.widget.attrs.setdefault("class", css)


class ItemForm(BootstrapForm):
    publisher = SpaceChoice(queryset=Space.objects.none(), label="Publisher space")
    name = forms.CharField(max_length=200)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    policy = forms.ChoiceField(choices=SharedItem.Policy.choices, label="Sync policy")

    def __init__(self, *args: Any, spaces: list[Space], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["publisher"].queryset = Space.objects.filter(  # type: ignore[attr-defined]
            pk__in=[s.pk for s in spaces]
        ).select_related("instance")


class SubscribeForm(BootstrapForm):
    """One subscriber space, or every one of ``spaces`` on instances with a tag or in a region
    (``t:<tag>``, ``r:<region>``), as grants target spaces. A space's value is its id, so a
    plain ``space=<id>`` post (the API's shape) still works."""

    space = forms.ChoiceField(label="Subscriber space", widget=SearchableSelect)
    mode = forms.ChoiceField(choices=Subscription.Mode.choices, initial="automatic")

    def __init__(
        self, *args: Any, spaces: list[Space], expand: list[Space] | None = None, **kwargs: Any
    ) -> None:
        """``spaces``: those that may be chosen one by one; ``expand`` (default: the same) those
        a tag or region reaches, the spaces the publisher trusts that do not receive the item
        yet."""
        super().__init__(*args, **kwargs)
        reach = {s.pk for s in (spaces if expand is None else expand)}
        self._spaces = list(
            Space.objects.filter(pk__in=[s.pk for s in spaces])
            .select_related("instance")
            .prefetch_related("instance__tags")
            .order_by("name", "instance__name")
        )
        self._reach = [s for s in self._spaces if s.pk in reach]
        tags = sorted({t.name for s in self._reach for t in s.instance.tags.all()})
        regions = sorted({s.instance.region for s in self._reach if s.instance.region})
        choices: list[tuple[str, str]] = []
        for tag in tags:
            choices.append((f"t:{tag}", f"Every space on instances tagged {tag}"))
        for region in regions:
            choices.append((f"r:{region}", f"Every space on instances in region {region}"))
        choices += [(str(s.pk), space_label(s)) for s in self._spaces]
        self.fields["space"].choices = choices  # type: ignore[attr-defined]

    def _matching(self, value: str) -> list[Space]:
        kind, _, key = value.partition(":")
        if kind == "t":
            return [s for s in self._reach if key in {t.name for t in s.instance.tags.all()}]
        if kind == "r":
            return [s for s in self._reach if s.instance.region == key]
        return [s for s in self._spaces if str(s.pk) == value]

    def selector(self) -> tuple[str, str] | None:
        """("tag" or "region", its value) when one was chosen: a rule follows it."""
        kind, _, key = self.cleaned_data["space"].partition(":")
        if kind in ("t", "r"):
            return ("tag" if kind == "t" else "region", key)
        return None

    def spaces(self) -> list[Space]:
        """The subscriber spaces chosen: one, or every one matching the tag or region."""
        return self._matching(self.cleaned_data["space"])


class TrustForm(BootstrapForm):
    publisher = SpaceChoice(queryset=Space.objects.none(), label="Publisher space")
    subscriber = SpaceChoice(queryset=Space.objects.none(), required=False)
    tag = forms.CharField(
        max_length=50, required=False, help_text="…or every space on instances carrying this tag"
    )

    def __init__(self, *args: Any, managed: list[Space], visible: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["publisher"].queryset = Space.objects.filter(  # type: ignore[attr-defined]
            pk__in=[s.pk for s in managed]
        ).select_related("instance")
        self.fields["subscriber"].queryset = visible.filter(  # type: ignore[attr-defined]
            state=Space.State.ENLISTED
        ).select_related("instance")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not data.get("subscriber") and not data.get("tag"):
            raise forms.ValidationError("Choose a subscriber space or a tag.")
        return data


MAX_REVISION = 2**31 - 1


class ChangeForm(forms.Form):
    """A subscriber's change: the mode, and the pin (a number, empty to unpin, or keep)."""

    mode = forms.ChoiceField(choices=Subscription.Mode.choices, required=False)
    pinned_revision = forms.CharField(required=False)

    def clean_pinned_revision(self) -> int | None | str:
        if "pinned_revision" not in self.data:
            return "keep"
        raw = str(self.data.get("pinned_revision") or "").strip()
        if raw in ("", "keep"):
            return None if raw == "" else "keep"
        # ASCII digits only: "²".isdigit() is true, yet int("²") fails.
        if not (raw.isascii() and raw.isdecimal()) or not 1 <= int(raw) <= MAX_REVISION:
            raise forms.ValidationError("Choose a revision number to pin, or none.")
        return int(raw)


def row_count(data: QueryDict) -> int:
    """How many numbered rows the editor posted. A missing or malformed count is refused:
    read as zero rows it would publish an empty set."""
    raw = str(data.get("rows") or "")
    if not (raw.isascii() and raw.isdecimal()):
        raise ContentError(["The editor's row count is missing or not a number; nothing saved."])
    return min(int(raw), MAX_EDITOR_ROWS)


def _names(values: list[str]) -> list[str]:
    # A scope arrives as picked names (a multiple select) or as typed, comma-separated text.
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def editor_rows(
    content: dict[str, Any], secrets_present: set[str], *, blank: int = BLANK_ROWS
) -> list[dict[str, Any]]:
    """Rows for the editor: existing variables, then blank ones. Never a sensitive value.

    Every row carries a key (blank rows a fresh one), so a value typed into a new sensitive
    row stays bound to that row when the draft is saved and the page reloaded.
    """
    rows = []
    for var in content.get("variables", []):
        sensitive = var["type"] == "Sensitive"
        scope = var.get("scope") or {}
        rows.append(
            {
                "key": var.get("key") or "",
                "name": var["name"],
                "type": var["type"],
                "value": "" if sensitive else var.get("value") or "",
                "has_value": sensitive and var.get("key") in secrets_present,
                "environments": list(scope.get("environments", [])),
                "roles": list(scope.get("roles", [])),
                "tenant_tags": list(scope.get("tenant_tags", [])),
                "description": var.get("description", ""),
                "existing": True,
            }
        )
    rows.extend(blank_row() for _ in range(blank))
    return rows


def blank_row() -> dict[str, Any]:
    return {
        "key": str(uuid.uuid4()),
        "name": "",
        "type": "String",
        "value": "",
        "has_value": False,
        "environments": [],
        "roles": [],
        "tenant_tags": [],
        "description": "",
        "existing": False,
    }


def content_from_post(data: QueryDict) -> dict[str, Any]:
    """Variables from the editor's numbered rows; blank rows and deleted rows are skipped."""
    variables = []
    for i in range(row_count(data)):
        row = {f: data.get(f"v{i}-{f}", "") for f in EDITOR_FIELDS}
        if row["delete"] or not row["name"].strip():
            continue
        variables.append(
            {
                "key": row["key"] or None,
                "name": row["name"],
                "type": row["type"] or "String",
                "value": row["value"] or None,
                "description": row["description"],
                "scope": {
                    scope: _names(data.getlist(f"v{i}-{scope}"))
                    for scope in ("environments", "roles", "tenant_tags")
                },
            }
        )
    return {"variables": variables}


class ImportVariableSetForm(BootstrapForm):
    publisher = SpaceChoice(queryset=Space.objects.none(), label="Publisher space")
    library_variable_set_id = forms.RegexField(
        r"^[A-Za-z]+-\d+$",
        label="Library variable set id in that space (e.g. LibraryVariableSets-3)",
    )
    policy = forms.ChoiceField(choices=SharedItem.Policy.choices)

    def __init__(self, *args: Any, spaces: list[Space], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["publisher"].queryset = Space.objects.filter(  # type: ignore[attr-defined]
            pk__in=[s.pk for s in spaces]
        ).select_related("instance")


class ImportStepTemplateForm(BootstrapForm):
    publisher = SpaceChoice(queryset=Space.objects.none(), label="Publisher space")
    file = forms.FileField(required=False, label="Step template JSON export")
    action_template_id = forms.RegexField(
        r"^[A-Za-z]+-\d+$",
        required=False,
        label="…or an action template id in the publisher space (e.g. ActionTemplates-4)",
    )
    policy = forms.ChoiceField(choices=SharedItem.Policy.choices)

    def __init__(self, *args: Any, spaces: list[Space], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["publisher"].queryset = Space.objects.filter(  # type: ignore[attr-defined]
            pk__in=[s.pk for s in spaces]
        ).select_related("instance")
