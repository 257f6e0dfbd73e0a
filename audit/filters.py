"""Audit log filters, shared by the page and the API."""

from __future__ import annotations

from django import forms
from django.db.models import Q, QuerySet

from audit.models import AuditEntry


class AuditFilterForm(forms.Form):
    q = forms.CharField(required=False, label="Search")
    actor = forms.CharField(required=False)
    action = forms.CharField(required=False, help_text="e.g. instance. or auth.login")
    object_type = forms.CharField(required=False)
    since = forms.DateTimeField(
        required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    until = forms.DateTimeField(
        required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )


def filter_entries(entries: QuerySet[AuditEntry], form: AuditFilterForm) -> QuerySet[AuditEntry]:
    if not form.is_bound or not form.is_valid():
        return entries
    data = form.cleaned_data
    if data["q"]:
        entries = entries.filter(
            Q(object_label__icontains=data["q"]) | Q(message__icontains=data["q"])
        )
    if data["actor"]:
        entries = entries.filter(actor_label__iexact=data["actor"])
    if data["action"]:
        entries = entries.filter(action__startswith=data["action"])
    if data["object_type"]:
        entries = entries.filter(object_type=data["object_type"])
    if data["since"]:
        entries = entries.filter(at__gte=data["since"])
    if data["until"]:
        entries = entries.filter(at__lte=data["until"])
    return entries
