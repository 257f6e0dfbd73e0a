"""The one way ODCM renders a form: every field through ``odcm/forms/field.html``.

``{{ form }}`` renders ``odcm/forms/form.html`` and ``{{ field.as_field_group }}`` the field
template, so the label, widget, help text and errors (and the ids that the widget's
``aria-describedby`` points at) are written in one place for every form.
"""

from __future__ import annotations

from django.forms.renderers import TemplatesSetting


class FormRenderer(TemplatesSetting):
    """Django's renderer using the project's templates, with ODCM's form and field templates."""

    form_template_name = "odcm/forms/form.html"
    field_template_name = "odcm/forms/field.html"
