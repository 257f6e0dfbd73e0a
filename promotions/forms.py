"""Every form of promotions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms

from .models import RemoteSpace, Trust


class RemoteForm(forms.Form):
    name = forms.CharField(max_length=200, help_text='As people call it, e.g. "Prod".')
    certificate = forms.FileField(
        required=False, help_text="The PEM file downloaded from the other ODCM."
    )
    certificate_text = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}), label="…or paste the PEM"
    )
    url = forms.URLField(
        required=False, label="Its ODCM's URL (connected only)", assume_scheme="https"
    )

    def pem(self) -> str:
        upload = self.cleaned_data.get("certificate")
        if upload is not None:
            return str(upload.read(64 * 1024).decode("ascii", "replace"))
        return str(self.cleaned_data.get("certificate_text") or "")


class FetchRemoteForm(forms.Form):
    url = forms.URLField(label="The other ODCM's URL", assume_scheme="https")
    space_id = forms.UUIDField(label="Its space id", help_text="Shown on its identity page.")


class TrustForm(forms.Form):
    space = forms.ChoiceField(label="This space")
    remote = forms.ModelChoiceField(queryset=RemoteSpace.objects.all(), label="accepts from")
    accepts = forms.ChoiceField(choices=Trust.Accepts.choices)

    def __init__(self, *args: Any, spaces: Any = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["space"].choices = [(str(s.pk), s.name) for s in spaces]  # type: ignore[attr-defined]


class ConfirmForm(forms.Form):
    fingerprint = forms.CharField(
        max_length=200, help_text="Read out by a person on the other side; colons optional."
    )


class UploadForm(forms.Form):
    file = forms.FileField(label="Bundle or receipt file")


class PromoteForm(forms.Form):
    release = forms.CharField(max_length=64, label="Release id", help_text="e.g. Releases-12")
    target = forms.ChoiceField(label="Target space")

    def __init__(self, *args: Any, targets: Any = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["target"].choices = [(str(t.pk), t.name) for t in targets]  # type: ignore[attr-defined]


class SupplyForm(forms.Form):
    name = forms.CharField(widget=forms.HiddenInput)
    environment = forms.CharField(widget=forms.HiddenInput, required=False)
    # A tenant's value (written into Octopus's tenant variables, never kept by ODCM).
    tenant = forms.CharField(widget=forms.HiddenInput, required=False)
    value = forms.CharField(widget=forms.PasswordInput(render_value=False), label="Value")


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class ImportForm(forms.Form):
    lifecycle = forms.CharField(
        required=False, label="Lifecycle id", help_text="Leave empty when the space has one."
    )
    # Read with request.FILES.getlist in the view: one file per package of the manifest.
    packages = forms.FileField(
        required=False,
        widget=MultipleFileInput,
        label="Package files (air-gapped)",
        help_text="The files exported beside the bundle; each is checked against the manifest.",
    )


class RouteForm(forms.Form):
    """The project of a route (fixed once the route exists). Stages come in
    :data:`StageFormSet`."""

    project = forms.ChoiceField(
        label="Project",
        widget=forms.Select(attrs={"data-searchable": ""}),
        help_text="A project of this space.",
    )

    def __init__(self, *args: Any, projects: dict[str, str], fixed: str = "", **kw: Any) -> None:
        super().__init__(*args, **kw)
        field = self.fields["project"]
        field.choices = [("", "—"), *projects.items()]  # type: ignore[attr-defined]
        if fixed:
            field.initial = fixed
            field.disabled = True


class StageForm(forms.Form):
    """One stage: a local environment of the source space or a target space (value
    ``env:<name>`` or ``space:<uuid>``), its position and, for a space, the lifecycle there.

    ``lifecycles(stage)`` gives the lifecycle names of the chosen target space (a select),
    or None when they cannot be listed (a space of another ODCM: typed). A local environment
    has no lifecycle: the field is hidden. ``refresh_url``: the stage select asks the page
    for its row's lifecycle cell again (htmx) when it changes, so the field follows the
    choice."""

    position = forms.IntegerField(min_value=1, max_value=99, label="Order")
    stage = forms.ChoiceField(
        label="Stage",
        required=False,
        widget=forms.Select(attrs={"data-searchable": ""}),
    )
    lifecycle = forms.CharField(
        max_length=200,
        required=False,
        label="Lifecycle there",
        help_text="Target space only: the lifecycle's name in that space (empty: the importer "
        "chooses).",
    )

    def __init__(
        self,
        *args: Any,
        stage_choices: Any = (),
        lifecycles: Callable[[str], list[str] | None] | None = None,
        refresh_url: str = "",
        **kw: Any,
    ) -> None:
        super().__init__(*args, **kw)
        self.fields["stage"].choices = stage_choices  # type: ignore[attr-defined]
        if refresh_url:
            # Only this row's lifecycle cell comes back: what was typed elsewhere stays.
            cell = f"#{self.prefix}-lifecycle-cell"
            self.fields["stage"].widget.attrs.update(
                {
                    "hx-post": refresh_url,
                    "hx-trigger": "change",
                    "hx-vals": '{"refresh": "1"}',
                    "hx-target": cell,
                    "hx-select": cell,
                }
            )
        chosen = str(
            (self.data.get(self.add_prefix("stage")) if self.is_bound else None)
            or self.initial.get("stage")
            or ""
        )
        self.stage_kind = chosen.partition(":")[0] if ":" in chosen else ""
        field = self.fields["lifecycle"]
        if self.stage_kind == "env":
            field.widget = forms.HiddenInput()
        elif self.stage_kind == "space" and lifecycles is not None:
            names = lifecycles(chosen)
            if names is not None:
                current = str(
                    (self.data.get(self.add_prefix("lifecycle")) if self.is_bound else None)
                    or self.initial.get("lifecycle")
                    or ""
                )
                options = [("", "— the importer chooses —"), *((n, n) for n in names)]
                if current and current not in names:
                    options.append((current, f"{current} (not in that space)"))
                field.widget = forms.Select(choices=options)
                field.help_text = "A lifecycle of that space (empty: the importer chooses)."


# Rows are added and removed by posting the form back (htmx swaps the rows in place).
StageFormSet = forms.formset_factory(StageForm, extra=0, can_delete=True, max_num=30)


def stage_choices(environments: list[str], targets: list[RemoteSpace]) -> list[Any]:
    """Grouped choices for :class:`StageForm`: this space's environments, then spaces."""
    return [
        ("", "—"),
        ("Environments of this space", [(f"env:{e}", e) for e in environments]),
        (
            "Target spaces",
            [
                (
                    f"space:{t.pk}",
                    f"{t.name} ({'this ODCM' if t.local_space_id else 'remote'})",
                )
                for t in targets
            ],
        ),
    ]


class RemoteValueForm(forms.Form):
    """A value for a remote environment ("Prod: Production"). A sensitive value is never
    rendered back; left empty when editing, the one held is kept."""

    target = forms.ChoiceField(label="Target space")
    environment = forms.CharField(
        max_length=200, label="Environment there", help_text='e.g. "Production"'
    )
    name = forms.CharField(max_length=200, label="Variable")
    value = forms.CharField(
        required=False,
        label="Value",
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Shown as dots; sensitive values are never shown again.",
    )
    sensitive = forms.BooleanField(required=False, label="Sensitive")

    def __init__(self, *args: Any, targets: Any = (), **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.fields["target"].choices = [(str(t.pk), t.name) for t in targets]  # type: ignore[attr-defined]
