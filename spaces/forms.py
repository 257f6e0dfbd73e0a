"""Forms of the registry pages. API keys use password inputs that never render a value."""

from __future__ import annotations

from typing import Any

from django import forms

from identity.models import Group
from spaces.models import Instance, StandardEnvironment


def _tags(value: str) -> list[str]:
    return [t.strip() for t in value.split(",") if t.strip()]


class ApiKeyField(forms.CharField):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("label", "API key")
        kwargs.setdefault("max_length", 200)
        kwargs["widget"] = forms.PasswordInput(
            render_value=False, attrs={"autocomplete": "new-password"}
        )
        super().__init__(strip=True, **kwargs)


class EnlistForm(forms.Form):
    name = forms.CharField(max_length=100)
    base_url = forms.CharField(
        label="Server URL",
        max_length=500,
        help_text="Including any virtual directory, e.g. https://octopus.example/octo",
    )
    api_key = ApiKeyField(help_text="A key of a user with the System manager role.")
    region = forms.CharField(max_length=100, required=False, label="Region or location")
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    tags = forms.CharField(required=False, help_text="Comma separated, e.g. prod, emea")
    enlist_all = forms.BooleanField(
        required=False,
        initial=True,
        label="Enlist every space",
        help_text="Untick to list the spaces without enlisting them, then pick them on the "
        "instance's page.",
    )

    def clean_tags(self) -> list[str]:
        return _tags(self.cleaned_data.get("tags") or "")


class InstanceForm(forms.ModelForm[Instance]):
    tags = forms.CharField(required=False, help_text="Comma separated")

    class Meta:
        model = Instance
        fields = ["name", "region", "description", "enlist_new_spaces", "owners"]
        widgets = {"description": forms.Textarea(attrs={"rows": 2})}
        labels = {"enlist_new_spaces": "Enlist spaces that appear in Octopus later"}

    def __init__(self, *args: Any, can_set_owners: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["tags"] = ", ".join(self.instance.tags.values_list("name", flat=True))
        if not can_set_owners:
            del self.fields["owners"]
        else:
            self.fields["owners"].required = False

    def clean_tags(self) -> list[str]:
        return _tags(self.cleaned_data.get("tags") or "")


class RotateKeyForm(forms.Form):
    api_key = ApiKeyField(label="New API key")


class CreateSpaceForm(forms.Form):
    name = forms.CharField(max_length=50)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    manager_users = forms.MultipleChoiceField(
        required=False, label="Space managers: Octopus users", choices=[]
    )
    manager_teams = forms.MultipleChoiceField(
        required=False, label="Space managers: Octopus teams", choices=[]
    )
    groups = forms.ModelMultipleChoiceField(
        queryset=Group.objects.order_by("name"),
        required=False,
        label="Space managers: ODCM groups",
    )
    stamp_environments = forms.BooleanField(
        required=False, initial=True, label="Create the standard environments"
    )

    def __init__(
        self,
        *args: Any,
        users: list[tuple[str, str]] | None = None,
        teams: list[tuple[str, str]] | None = None,
        setup_options: list[Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["manager_users"].choices = users or []  # type: ignore[attr-defined]
        self.fields["manager_teams"].choices = teams or []  # type: ignore[attr-defined]
        names = ", ".join(StandardEnvironment.objects.values_list("name", flat=True))
        self.fields["stamp_environments"].help_text = names or "No standard environments yet."
        options = setup_options or []
        if options:
            self.fields["setup"] = forms.ChoiceField(
                required=False,
                label="Set up from",
                choices=[("", "The standard environments (as ticked above)")]
                + [(o.key, o.label) for o in options],
                help_text="A blueprint replaces the standard environments.",
            )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        data["setup"] = data.get("setup") or ""
        if data["setup"]:
            data["stamp_environments"] = False
        return data


class DeleteSpaceForm(forms.Form):
    confirm_name = forms.CharField(label="Type the space's name to confirm", max_length=200)


class StandardEnvironmentsForm(forms.Form):
    names = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6}),
        required=False,
        label="Environments, one per line, in order",
    )

    def clean_names(self) -> list[str]:
        names: list[str] = []
        for line in (self.cleaned_data.get("names") or "").splitlines():
            name = line.strip()
            if name and name.lower() not in {n.lower() for n in names}:
                if len(name) > 50:
                    raise forms.ValidationError(f"{name[:20]}…: at most 50 characters.")
                names.append(name)
        return names


class EnlistFileForm(forms.Form):
    """A CSV or YAML file listing instances to enlist (see spaces.services.bulk_enlist)."""

    file = forms.FileField(
        label="CSV or YAML file",
        help_text="Columns (CSV header) or keys (YAML): url, api_key, and optionally name, "
        "region, tags (separated by ; or spaces), description.",
    )
