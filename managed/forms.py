"""Forms of the managed-spaces pages (fields drawn by templates/odcm/forms/field.html)."""

from __future__ import annotations

import json
from typing import Any

from django import forms

from identity.models import Group
from managed.models import Blueprint, Split
from spaces.models import Instance, Space

EXAMPLE = {
    "environments": [{"name": "Development"}, {"name": "Production", "use_guided_failure": True}],
    "lifecycles": [
        {
            "name": "Standard",
            "phases": [
                {"name": "Dev", "automatic": ["Development"]},
                {"name": "Prod", "optional": ["Production"]},
            ],
        }
    ],
    "project_groups": [{"name": "Platform"}],
}


class SpaceChoices(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.name} ({obj.instance.name})"


class DocumentField(forms.CharField):
    """A blueprint document as JSON text; services.content checks what it says."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("widget", forms.Textarea(attrs={"rows": 18, "class": "font-monospace"}))
        kwargs.setdefault(
            "help_text",
            "JSON: environments, lifecycles, feeds, git_credentials, project_groups, tag_sets, "
            "worker_pools, library_variable_sets, teams (ODCM group and role), step_templates "
            '(names of shared step templates, or {"name", "revision"} to pin one). Passwords are '
            "sealed and never shown again; leave a password out to keep the one saved.",
        )
        super().__init__(**kwargs)

    def clean(self, value: Any) -> Any:
        text = super().clean(value)
        try:
            return json.loads(text)
        except ValueError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc}") from None


class BlueprintForm(forms.Form):
    name = forms.CharField(max_length=100)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    management_space = forms.ModelChoiceField(
        queryset=Space.objects.none(), required=False, help_text="Where the platform team works."
    )
    on_drift = forms.ChoiceField(choices=Blueprint.OnDrift.choices, initial="report")
    document = DocumentField(initial=json.dumps(EXAMPLE, indent=2))

    def __init__(self, *args: Any, spaces: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["management_space"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = spaces if spaces is not None else Space.objects.none()


class RevisionForm(forms.Form):
    document = DocumentField()
    comment = forms.CharField(max_length=300, required=False)


class AssignForm(forms.Form):
    spaces = SpaceChoices(
        queryset=Space.objects.none(), widget=forms.SelectMultiple(attrs={"size": 8})
    )

    def __init__(self, *args: Any, spaces: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["spaces"]
        assert isinstance(field, forms.ModelMultipleChoiceField)
        field.queryset = spaces if spaces is not None else Space.objects.none()


class RulesForm(forms.Form):
    tags = forms.CharField(required=False, help_text="Instance tags, comma-separated.")
    regions = forms.CharField(required=False, help_text="Regions, comma-separated.")

    def split(self, name: str) -> list[str]:
        return [v.strip() for v in self.cleaned_data.get(name, "").split(",") if v.strip()]


class MarkTemplateForm(forms.Form):
    space = forms.ModelChoiceField(queryset=Space.objects.none(), label="Management space")
    project_name = forms.CharField(max_length=200, label="Project")

    def __init__(self, *args: Any, spaces: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["space"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = spaces if spaces is not None else Space.objects.none()


class DownstreamForm(forms.Form):
    space = forms.ModelChoiceField(queryset=Space.objects.none())
    name = forms.CharField(max_length=200, required=False, help_text="Project name there.")
    mode = forms.ChoiceField(choices=[("automatic", "Automatic"), ("on_demand", "On demand")])

    def __init__(self, *args: Any, spaces: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["space"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = spaces if spaces is not None else Space.objects.none()


class SplitSourceForm(forms.Form):
    """Step 1 of the split wizard: the crowded space."""

    source = forms.ModelChoiceField(queryset=Space.objects.none(), label="Source space")

    def __init__(self, *args: Any, spaces: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["source"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = spaces if spaces is not None else Space.objects.none()


class SplitForm(forms.Form):
    """Step 2: which projects, into which space, and what becomes of the originals."""

    projects = forms.MultipleChoiceField(widget=forms.CheckboxSelectMultiple, choices=[])
    target = forms.ModelChoiceField(
        queryset=Space.objects.none(), required=False, label="Existing target space"
    )
    new_space_name = forms.CharField(
        max_length=100, required=False, label="…or a new space named", help_text="Created first."
    )
    new_space_instance = forms.ModelChoiceField(
        queryset=Instance.objects.none(), required=False, label="on instance"
    )
    source_action = forms.ChoiceField(
        choices=Split.SourceAction.choices,
        initial=Split.SourceAction.KEEP,
        label="Source projects",
        help_text="Only after a clean verification.",
    )

    def __init__(
        self,
        *args: Any,
        projects: list[str] | None = None,
        spaces: Any = None,
        instances: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        choices = self.fields["projects"]
        assert isinstance(choices, forms.MultipleChoiceField)
        choices.choices = [(p, p) for p in projects or []]
        for name, rows in (
            ("target", spaces if spaces is not None else Space.objects.none()),
            ("new_space_instance", instances if instances is not None else Instance.objects.none()),
        ):
            field = self.fields[name]
            assert isinstance(field, forms.ModelChoiceField)
            field.queryset = rows

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        new = (data.get("new_space_name") or "").strip()
        if bool(data.get("target")) == bool(new):
            raise forms.ValidationError("Choose an existing target space or name a new one.")
        if new and not data.get("new_space_instance"):
            self.add_error("new_space_instance", "Choose the instance for the new space.")
        return data


class CustomerForm(forms.Form):
    name = forms.CharField(max_length=100)
    management_space = forms.ModelChoiceField(queryset=Space.objects.none())
    group = forms.ModelChoiceField(
        queryset=Group.objects.all(), required=False, help_text="Gets the deployer role there."
    )
    blueprint = forms.ModelChoiceField(
        queryset=Blueprint.objects.none(), required=False, label="Set the space up from"
    )
    instance = forms.ModelChoiceField(
        queryset=Instance.objects.none(),
        required=False,
        label="Facade space's instance",
        help_text="Default: the management space's.",
    )
    api_key = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        label="API key for the management instance (optional)",
        help_text=(
            "Leave empty: ODCM makes a service account that may only deploy for this "
            "customer's tenant, and its key. Enter one only where ODCM's key may not manage "
            "users and teams; never shown again."
        ),
    )

    def __init__(
        self,
        *args: Any,
        spaces: Any = None,
        blueprints: Any = None,
        instances: Any = None,
        **kw: Any,
    ) -> None:
        super().__init__(*args, **kw)
        for name, rows in (
            ("management_space", spaces if spaces is not None else Space.objects.none()),
            ("blueprint", blueprints if blueprints is not None else Blueprint.objects.none()),
            ("instance", instances if instances is not None else Instance.objects.none()),
        ):
            field = self.fields[name]
            assert isinstance(field, forms.ModelChoiceField)
            field.queryset = rows


# ---------------------------------------------------------------- instance baselines

BASELINE_EXAMPLE = {
    "smtp": {"host": "smtp.example.com", "port": 587, "from": "octopus@example.com"},
    "authentication": {"username_password": True, "guest": False},
    "subscriptions": [
        {
            "name": "Failed deployments",
            "event_groups": ["DeploymentCriticalEvents"],
            "webhook_uri": "https://hooks.example.com/octopus",
        }
    ],
    "retention": {"days": 90},
}


class BaselineDocumentField(DocumentField):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault(
            "help_text",
            "JSON: smtp, authentication, subscriptions, maintenance, retention (each optional: "
            "what is left out is left alone). The SMTP password, Okta's client secret and "
            "webhook header values are sealed and never shown again; leave one out to keep it.",
        )
        super().__init__(**kwargs)


class BaselineForm(forms.Form):
    name = forms.CharField(max_length=100)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    on_drift = forms.ChoiceField(
        choices=[("report", "Report drift"), ("reapply", "Re-apply the baseline")],
        initial="report",
    )
    document = BaselineDocumentField(initial=json.dumps(BASELINE_EXAMPLE, indent=2))


class BaselineRevisionForm(forms.Form):
    document = BaselineDocumentField()
    comment = forms.CharField(max_length=300, required=False)


class InstanceChoices(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.name}{f' ({obj.region})' if obj.region else ''}"


class InstanceAssignForm(forms.Form):
    instances = InstanceChoices(
        queryset=Instance.objects.none(), widget=forms.SelectMultiple(attrs={"size": 8})
    )

    def __init__(self, *args: Any, instances: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["instances"]
        assert isinstance(field, forms.ModelMultipleChoiceField)
        field.queryset = instances if instances is not None else Instance.objects.none()


class BaselineRulesForm(RulesForm):
    all_instances = forms.BooleanField(required=False, label="Every instance")
