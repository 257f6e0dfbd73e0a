"""Forms of the rollouts pages: starting a deployment run, a subject's rollout policy and a
promotion pipeline. Waves and stages are ordered rows (formsets): the row order is the
order, a row left without a selector is not used. Fields are drawn by
templates/odcm/forms/field.html; long space lists get static/odcm/picker.js's filter box."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.db.models import QuerySet

from identity.models import Group
from managed.models import TemplateProject
from rollouts.models import Pipeline, PipelineStage, PolicyWave
from spaces.models import Instance, Space

SEL = PolicyWave.Selector
STAGE = PipelineStage.Selector
UNUSED = [("", "— not used —")]


class SpaceChoices(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.name} ({obj.instance.name})"


class TemplateChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.name} ({obj.space.name})"


def _searchable(rows: int = 6) -> forms.SelectMultiple:
    return forms.SelectMultiple(attrs={"size": rows, "data-searchable": ""})


def _set_queryset(form: forms.Form, name: str, rows: QuerySet[Any]) -> None:
    field = form.fields[name]
    assert isinstance(field, forms.ModelChoiceField)
    field.queryset = rows


def split_names(text: str) -> list[str]:
    return [part.strip() for part in text.replace("\n", ",").split(",") if part.strip()]


# -- waves (runs and policies) -------------------------------------------------------------


class WaveForm(forms.Form):
    """One wave: explicit spaces, an instance tag, a region or a percentage of those left."""

    name = forms.CharField(max_length=100, required=False)
    selector = forms.ChoiceField(choices=UNUSED + list(SEL.choices), required=False)
    spaces = SpaceChoices(queryset=Space.objects.none(), required=False, widget=_searchable(4))
    value = forms.CharField(
        max_length=100, required=False, label="Tag or region", help_text="For tag and region."
    )
    percent = forms.IntegerField(
        min_value=1, max_value=100, required=False, help_text="For a percentage."
    )

    def __init__(self, *args: Any, spaces: QuerySet[Space] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _set_queryset(self, "spaces", spaces if spaces is not None else Space.objects.none())

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        selector = data.get("selector")
        if selector == SEL.SPACES and not data.get("spaces"):
            self.add_error("spaces", "Choose at least one space for this wave.")
        elif selector in (SEL.TAG, SEL.REGION) and not (data.get("value") or "").strip():
            self.add_error("value", f"Name the {selector} this wave takes.")
        elif selector == SEL.PERCENT and not data.get("percent"):
            self.add_error("percent", "Give a percentage from 1 to 100.")
        return data

    def spec(self) -> dict[str, Any] | None:
        """The wave as rollouts' services take it; None for an unused row."""
        data = self.cleaned_data
        if not data.get("selector"):
            return None
        return {
            "name": data.get("name") or "",
            "selector": data["selector"],
            "spaces": [s.pk for s in data.get("spaces") or []],
            "value": (data.get("value") or "").strip(),
            "percent": data.get("percent"),
        }


class BaseWaveFormSet(forms.BaseFormSet[WaveForm]):
    def __init__(self, *args: Any, spaces: QuerySet[Space] | None = None, **kwargs: Any) -> None:
        self.space_rows = spaces
        super().__init__(*args, **kwargs)

    def get_form_kwargs(self, index: int | None) -> dict[str, Any]:
        return {**super().get_form_kwargs(index), "spaces": self.space_rows}

    def specs(self) -> list[dict[str, Any]]:
        return [spec for form in self.forms if (spec := form.spec()) is not None]


def wave_formset(extra: int = 3) -> type[BaseWaveFormSet]:
    made = forms.formset_factory(WaveForm, formset=BaseWaveFormSet, extra=extra, max_num=20)
    return cast(type[BaseWaveFormSet], made)


# -- deployment runs -------------------------------------------------------------------------


class RunForm(forms.Form):
    project = forms.CharField(
        max_length=200,
        required=False,
        help_text="By name: the same project in every space it is deployed in.",
    )
    template = TemplateChoice(
        queryset=TemplateProject.objects.none(),
        required=False,
        label="… or the downstream copies of a template project",
        help_text="Deploys each copy (under its own name in its space); the spaces are those "
        "holding a copy.",
    )
    new_copies = forms.BooleanField(
        required=False,
        initial=True,
        label="Also deploy copies pushed while the run goes on",
        help_text="With a template: a copy pushed after the start joins the first wave not "
        "started yet whose tag or region takes its space, else the last wave.",
    )
    release = forms.CharField(
        max_length=100, required=False, help_text="A version; leave empty for the latest release."
    )
    channel = forms.CharField(
        max_length=200, required=False, help_text='For "latest": the latest in this channel.'
    )
    environment = forms.CharField(max_length=200)
    tenants = forms.CharField(
        required=False,
        help_text="Tenant names, comma-separated; empty: an untenanted deployment.",
    )
    spaces = SpaceChoices(
        queryset=Space.objects.none(),
        required=False,
        widget=_searchable(8),
        label="Spaces to deploy in",
        help_text="Spaces you may deploy to. Empty: every one of them that has the project "
        "(ODCM asks each instance). Find spaces picks those that have it.",
    )
    max_failures = forms.IntegerField(
        min_value=0,
        initial=0,
        label="Failure limit",
        help_text="The next wave does not start when more deployments than this failed.",
    )
    max_failure_ratio = forms.FloatField(
        min_value=0,
        max_value=1,
        initial=0,
        required=False,
        label="Failure limit (ratio)",
        help_text="… or when more than this fraction of the deployments started so far "
        "failed, 0 to 1 (0: only the count).",
    )

    def __init__(
        self,
        *args: Any,
        spaces: QuerySet[Space] | None = None,
        templates: QuerySet[TemplateProject] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        _set_queryset(self, "spaces", spaces if spaces is not None else Space.objects.none())
        _set_queryset(
            self, "template", templates if templates is not None else TemplateProject.objects.none()
        )

    def clean_tenants(self) -> list[str]:
        names = split_names(self.cleaned_data.get("tenants") or "")
        if len(names) > 100:
            raise forms.ValidationError("At most 100 tenants.")
        return names

    def clean_channel(self) -> str:
        return (self.cleaned_data.get("channel") or "").strip()

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("release", "").strip() and data.get("channel"):
            self.add_error("channel", 'A channel only chooses the release for "latest".')
        project = (data.get("project") or "").strip()
        if project and data.get("template"):
            self.add_error("template", "Choose a project by name or a template, not both.")
        elif not project and not data.get("template") and "project" not in self.errors:
            self.add_error("project", "Name the project, or choose a template project.")
        return data


# -- rollout policies ------------------------------------------------------------------------


class PolicyForm(forms.Form):
    enabled = forms.BooleanField(
        required=False, initial=True, help_text="Off: new revisions go to every target at once."
    )
    max_failures = forms.IntegerField(
        min_value=0,
        initial=0,
        label="Failure limit (count)",
        help_text="A wave halts when more "
        "of its targets fail than this (0: the first failure halts).",
    )
    max_failure_ratio = forms.FloatField(
        min_value=0,
        max_value=1,
        initial=0,
        label="Failure limit (ratio)",
        help_text="… or more than this fraction of the wave, 0 to 1 (0: only the count).",
    )
    soak_seconds = forms.IntegerField(
        min_value=0,
        initial=300,
        label="Soak (seconds)",
        help_text="How long a delivered wave must stay clean before the next starts.",
    )
    approval_group = forms.ModelChoiceField(
        queryset=Group.objects.order_by("name"),
        required=False,
        to_field_name="slug",
        help_text="Its members approve each wave after the first (none: no approval).",
    )


class AttachForm(forms.Form):
    pipeline = forms.ModelChoiceField(
        queryset=Pipeline.objects.none(),
        help_text="Each new revision enters the pipeline's first stage only.",
    )

    def __init__(self, *args: Any, pipelines: QuerySet[Any] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["pipeline"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = pipelines if pipelines is not None else Pipeline.objects.none()


# -- pipelines -------------------------------------------------------------------------------


class PipelineForm(forms.Form):
    name = forms.CharField(max_length=100)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))


class InstanceChoices(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return str(obj.name)


class StageForm(forms.Form):
    """One stage: explicit spaces, whole instances, an instance tag or a region."""

    name = forms.CharField(max_length=100, required=False)
    selector = forms.ChoiceField(choices=UNUSED + list(STAGE.choices), required=False)
    spaces = SpaceChoices(queryset=Space.objects.none(), required=False, widget=_searchable(4))
    instances = InstanceChoices(
        queryset=Instance.objects.none(), required=False, widget=_searchable(4)
    )
    value = forms.CharField(max_length=100, required=False, label="Tag or region")
    soak_seconds = forms.IntegerField(
        min_value=0, initial=300, required=False, label="Soak (seconds)"
    )
    approval_group = forms.ModelChoiceField(
        queryset=Group.objects.order_by("name"),
        required=False,
        to_field_name="slug",
        help_text="Only its members promote into this stage.",
    )
    allowed_versions = forms.CharField(
        required=False,
        label="Allowed Octopus Server versions",
        help_text="Comma-separated; empty: any version.",
    )

    def __init__(
        self,
        *args: Any,
        spaces: QuerySet[Space] | None = None,
        instances: QuerySet[Instance] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        _set_queryset(self, "spaces", spaces if spaces is not None else Space.objects.none())
        _set_queryset(
            self, "instances", instances if instances is not None else Instance.objects.none()
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        selector = data.get("selector")
        if selector == STAGE.SPACES and not data.get("spaces"):
            self.add_error("spaces", "Choose at least one space for this stage.")
        elif selector == STAGE.INSTANCES and not data.get("instances"):
            self.add_error("instances", "Choose at least one instance for this stage.")
        elif selector in (STAGE.TAG, STAGE.REGION) and not (data.get("value") or "").strip():
            self.add_error("value", f"Name the {selector} of this stage.")
        if selector and data.get("soak_seconds") is None:
            self.add_error("soak_seconds", "Give a soak time (0: none).")
        return data

    def spec(self) -> dict[str, Any] | None:
        data = self.cleaned_data
        if not data.get("selector"):
            return None
        return {
            "name": (data.get("name") or "").strip(),
            "selector": data["selector"],
            "spaces": [s.pk for s in data.get("spaces") or []],
            "instances": [i.pk for i in data.get("instances") or []],
            "value": (data.get("value") or "").strip(),
            "soak_seconds": data.get("soak_seconds") or 0,
            "approval_group": data.get("approval_group"),
            "allowed_versions": split_names(data.get("allowed_versions") or ""),
        }


class BaseStageFormSet(forms.BaseFormSet[StageForm]):
    def __init__(
        self,
        *args: Any,
        spaces: QuerySet[Space] | None = None,
        instances: QuerySet[Instance] | None = None,
        **kwargs: Any,
    ) -> None:
        self.space_rows, self.instance_rows = spaces, instances
        super().__init__(*args, **kwargs)

    def get_form_kwargs(self, index: int | None) -> dict[str, Any]:
        extra = {"spaces": self.space_rows, "instances": self.instance_rows}
        return {**super().get_form_kwargs(index), **extra}

    def specs(self) -> list[dict[str, Any]]:
        return [spec for form in self.forms if (spec := form.spec()) is not None]


def stage_formset(extra: int = 3) -> type[BaseStageFormSet]:
    made = forms.formset_factory(StageForm, formset=BaseStageFormSet, extra=extra, max_num=20)
    return cast(type[BaseStageFormSet], made)
