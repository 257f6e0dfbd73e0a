"""Forms: alert settings, version pin, maintenance windows."""

from __future__ import annotations

from typing import Any

from django import forms

from monitoring.models import AlertChannel, AlertSettings, MaintenanceWindow
from spaces.models import Instance


class AlertSettingsForm(forms.ModelForm):
    class Meta:
        model = AlertSettings
        fields = [
            "on_offline",
            "on_unhealthy",
            "on_recovered",
            "on_version",
            "on_reminder",
            "owned_instances",
            "as_administrator",
            "all_instances",
            "instances",
        ]
        widgets = {"instances": forms.CheckboxSelectMultiple}

    def __init__(
        self, *args: Any, instances: Any = None, admin: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        if instances is not None:
            self.fields["instances"].queryset = instances  # type: ignore[attr-defined]
        if not admin:  # only administrators have that default to opt out of
            del self.fields["as_administrator"]


class PinForm(forms.Form):
    pinned_version = forms.CharField(max_length=50, required=False, label="Pinned version")


class MaintenanceWindowForm(forms.ModelForm):
    class Meta:
        model = MaintenanceWindow
        fields = ["starts_at", "ends_at", "reason"]
        widgets = {
            "starts_at": forms.DateTimeInput(attrs={"type": "datetime-local"}),
            "ends_at": forms.DateTimeInput(attrs={"type": "datetime-local"}),
        }

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("starts_at") and data.get("ends_at") and data["ends_at"] <= data["starts_at"]:
            raise forms.ValidationError("The window must end after it starts.")
        return data


class EndWindowForm(forms.Form):
    """Which maintenance window to end: an id, or the window does not exist (404)."""

    window = forms.UUIDField()


class ChannelForm(forms.Form):
    """A new alert channel. The URL and secret are write-only: never rendered back."""

    name = forms.CharField(max_length=100)
    kind = forms.ChoiceField(choices=AlertChannel.Kind.choices, label="Kind")
    url = forms.URLField(
        max_length=2000,
        assume_scheme="https",
        label="Webhook URL",
        widget=forms.PasswordInput(render_value=False),
        help_text="Slack and Teams give this URL when you add an incoming webhook. Kept "
        "encrypted, never shown again.",
    )
    secret = forms.CharField(
        required=False,
        max_length=200,
        widget=forms.PasswordInput(render_value=False),
        label="Signing secret (webhook only)",
        help_text="Blank: ODCM makes one and shows it once.",
    )
    on_offline = forms.BooleanField(required=False, initial=True, label="Offline")
    on_unhealthy = forms.BooleanField(required=False, initial=True, label="Unhealthy")
    on_recovered = forms.BooleanField(required=False, initial=True, label="Back online")
    on_version = forms.BooleanField(required=False, initial=True, label="Unexpected version")
    on_reminder = forms.BooleanField(required=False, initial=True, label="Reminders")
    instances = forms.ModelMultipleChoiceField(
        queryset=Instance.objects.order_by("name"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None chosen: every instance.",
    )

    EVENTS = ("on_offline", "on_unhealthy", "on_recovered", "on_version", "on_reminder")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ("name", "url", "secret"):
            self.fields[name].widget.attrs["autocomplete"] = "off"

    def events(self) -> dict[str, bool]:
        return {name: bool(self.cleaned_data.get(name)) for name in self.EVENTS}
