"""The one way ODCM renders a form: every field through ``odcm/forms/field.html``.

``{{ form }}`` renders ``odcm/forms/form.html`` and ``{{ field.as_field_group }}`` the field
template, so the label, widget, help text and errors (and the ids that the widget's
``aria-describedby`` points at) are written in one place for every form.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.forms.renderers import TemplatesSetting


class FormRenderer(TemplatesSetting):
    """Django's renderer using the project's templates, with ODCM's form and field templates."""

    form_template_name = "odcm/forms/form.html"
    field_template_name = "odcm/forms/field.html"


class SearchableSelect(forms.Select):
    """A select that always gets static/odcm/picker.js's filter box (selects of more than 15
    options get it anyway): the one searchable picker, instead of long dropdowns."""

    def __init__(self, attrs: dict[str, Any] | None = None, choices: Any = ()) -> None:
        super().__init__({**(attrs or {}), "data-searchable": ""}, choices)
