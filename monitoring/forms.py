"""Forms: alert settings, version pin, maintenance windows."""

from __future__ import annotations

from typing import Any

from django import forms

from monitoring.models import AlertSettings, MaintenanceWindow


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
            "all_instances",
            "instances",
        ]
        widgets = {"instances": forms.CheckboxSelectMultiple}

    def __init__(self, *args: Any, instances: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if instances is not None:
            self.fields["instances"].queryset = instances  # type: ignore[attr-defined]


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
