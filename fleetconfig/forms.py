"""Forms: a Git source, a file to plan."""

from __future__ import annotations

from typing import Any

from django import forms


class _Styled(forms.Form):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            css = "form-check-input" if isinstance(field, forms.BooleanField) else "form-control"
            field.widget.attrs.setdefault("class", css)


class GitSourceForm(_Styled):
    name = forms.CharField(max_length=100)
    url = forms.CharField(
        max_length=500,
        label="Repository URL",
        help_text="https://, git://, ssh:// or file://; no credentials in it.",
    )
    branch = forms.CharField(max_length=200, initial="main")
    path = forms.CharField(max_length=500, initial="fleet.yaml", label="File in the repository")
    username = forms.CharField(max_length=200, required=False)
    token = forms.CharField(
        max_length=2000,
        required=False,
        label="Token or password",
        widget=forms.PasswordInput(render_value=False),
        help_text="Stored encrypted; leave empty to keep the stored one.",
    )
    auto_apply = forms.BooleanField(
        required=False,
        label="Apply new commits automatically",
        help_text="Off: each commit waits for an administrator.",
    )
    prune = forms.BooleanField(
        required=False,
        label="Prune",
        help_text="Delete what an earlier apply created and the file no longer has.",
    )


class PlanForm(_Styled):
    document = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 14, "spellcheck": "false"}),
        max_length=5 * 1024 * 1024,
        label="Fleet file (YAML)",
    )
    prune = forms.BooleanField(required=False)
