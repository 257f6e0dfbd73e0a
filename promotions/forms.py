"""Every form of promotions."""

from __future__ import annotations

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
