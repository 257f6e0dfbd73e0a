"""List filters for every API list, through django-filter.

Each list viewset names a ``filterset_class`` built from :class:`FilterSet`; the backend
validates every parameter and answers a bad value with a 400 naming the field (the one error
body). Multi-value filters take ``?status=a,b``, ``?status=a&status=b`` or both; ``ordering``
takes the listed fields, ``-`` first for descending, several separated by commas.
"""

from __future__ import annotations

from typing import Any

import django_filters
from django import forms
from django.db.models import QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework.exceptions import ErrorDetail, ValidationError
from rest_framework.request import Request


class RepeatedInput(forms.TextInput):
    """Reads every value of a repeated parameter, joined by commas for the CSV field."""

    def value_from_datadict(self, data: Any, files: Any, name: str) -> Any:
        if hasattr(data, "getlist"):
            values = [str(v) for v in data.getlist(name)]
            return ",".join(values) if values else None
        return super().value_from_datadict(data, files, name)


class _Many(django_filters.BaseInFilter):
    """Matches any of several values; ``distinct`` because some fields span relations."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", RepeatedInput)
        kwargs.setdefault("lookup_expr", "in")
        super().__init__(*args, **kwargs)

    def filter(self, qs: QuerySet[Any], value: Any) -> QuerySet[Any]:
        if value:
            value = list(dict.fromkeys(value))
        return super().filter(qs, value)


class UUIDs(_Many, django_filters.UUIDFilter):
    """One or more ids (UUIDs); anything else is a 400 naming the field."""


class Choices(_Many, django_filters.ChoiceFilter):
    """One or more of a fixed set of values."""


class Names(_Many, django_filters.CharFilter):
    """One or more exact names (tags, regions…)."""


TRUE, FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off"}


class FlagField(forms.Field):
    """true/false (also 1/0, yes/no); anything else is an error, not silently "all"."""

    def to_python(self, value: Any) -> bool | None:
        text = str(value or "").strip().lower()
        if not text:
            return None
        if text in TRUE | FALSE:
            return text in TRUE
        raise forms.ValidationError("Give true or false.", code="invalid")


class Flag(django_filters.BooleanFilter):
    field_class = FlagField


class Ordering(django_filters.OrderingFilter):
    """``ordering=name`` or ``-name``; several comma-separated; an unknown field is a 400."""

    def __init__(self, *fields: str, **kwargs: Any) -> None:
        kwargs.setdefault("help_text", "Sort by " + ", ".join(fields) + "; '-' for descending.")
        super().__init__(fields=tuple((f, f.replace("__", "_")) for f in fields), **kwargs)


class FilterSet(django_filters.FilterSet):
    """The base of every API list's filters."""


def filtered(request: Request, queryset: QuerySet[Any], filterset_class: Any) -> Any:
    """``queryset`` through ``filterset_class`` with the request's parameters (for lists
    nested in an action, which the backend does not reach); a bad value is a 400."""
    filterset = filterset_class(request.query_params, queryset=queryset, request=request)
    return FilterBackend.valid(filterset).qs


class FilterBackend(DjangoFilterBackend):
    """django-filter's backend; invalid values answer 400 with each field's messages."""

    def filter_queryset(self, request: Request, queryset: QuerySet[Any], view: Any) -> Any:
        filterset = self.get_filterset(request, queryset, view)
        if filterset is None:
            return queryset
        return self.valid(filterset).qs

    @staticmethod
    def valid(filterset: Any) -> Any:
        if not filterset.is_valid():
            # Keep each message's code (invalid_choice, invalid…) for the error body.
            raise ValidationError(
                {
                    name: [ErrorDetail(m, e.code or "invalid") for e in errors for m in e.messages]
                    for name, errors in filterset.form.errors.as_data().items()
                }
            )
        return filterset
