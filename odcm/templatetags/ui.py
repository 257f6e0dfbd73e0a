"""``{% load ui %}``: form widgets with Bootstrap's classes, status colours, sortable headers."""

from __future__ import annotations

from typing import Any

from django import forms, template
from django.forms.boundfield import BoundField
from django.utils.html import format_html
from django.utils.safestring import SafeString

from odcm import ui

register = template.Library()

_CHECKS = (forms.CheckboxInput, forms.CheckboxSelectMultiple, forms.RadioSelect)


@register.filter
def field_kind(field: BoundField) -> str:
    """``check`` (one checkbox), ``group`` (checkboxes or radio buttons), ``fieldset`` (another
    widget of several inputs) or ``input``."""
    widget = field.field.widget
    if isinstance(widget, (forms.CheckboxSelectMultiple, forms.RadioSelect)):
        return "group"
    if field.use_fieldset:
        return "fieldset"
    if isinstance(widget, forms.CheckboxInput):
        return "check"
    return "input"


@register.filter
def widget(field: BoundField, compact: Any = False) -> SafeString:
    """The field's widget with Bootstrap's class for its kind (and ``is-invalid``)."""
    w = field.field.widget
    if isinstance(w, _CHECKS):
        css = ["form-check-input"]
    elif isinstance(w, forms.Select):
        css = ["form-select"] + (["form-select-sm"] if compact else [])
    else:
        css = ["form-control"] + (["form-control-sm"] if compact else [])
    own = [c for c in str(w.attrs.get("class", "")).split() if c not in css]
    if field.errors:
        css.append("is-invalid")
    return field.as_widget(attrs={"class": " ".join(own + css)})


@register.filter
def check_options(field: BoundField) -> list[Any]:
    """The checkboxes or radio buttons of a multiple-choice field, with Bootstrap's class."""
    options = list(field.subwidgets)
    for option in options:
        option.data["attrs"]["class"] = "form-check-input"
    return options


@register.filter
def status_colour(status: str | None) -> str:
    return ui.status_colour(status)


@register.simple_tag
def status_dot(status: str | None, label: str | None = None) -> SafeString:
    return ui.status_dot(status, label)


@register.simple_tag
def status_colours_json() -> str:
    return ui.status_colours_json()


@register.simple_tag(takes_context=True)
def sort_header(
    context: template.Context, label: str, key: str, descending: bool = False, css: str = ""
) -> SafeString:
    """A sortable column's ``<th>``: a link that sorts by ``key`` (or reverses the current
    sort), an arrow showing the current direction and ``aria-sort`` for screen readers."""
    request = context["request"]
    current = str(context.get("sort") or request.GET.get("sort") or "")
    default = f"-{key}" if descending else key
    if current.lstrip("-") == key:
        direction = "descending" if current.startswith("-") else "ascending"
        target = key if current.startswith("-") else f"-{key}"
    else:
        direction, target = "", default
    query = request.GET.copy()
    for name in ("part", "page"):
        query.pop(name, None)
    query["sort"] = target
    # Unsorted columns show a faint double arrow, so that every sortable header says so.
    arrow = {"ascending": "▲", "descending": "▼"}.get(direction, "↕")
    return format_html(
        '<th class="{}"{}><a class="sort-link" href="?{}" data-sort="{}">{}'
        '<span class="sort-indicator{}" aria-hidden="true">{}</span></a></th>',
        f"sortable {css}".strip(),
        format_html(' aria-sort="{}"', direction) if direction else "",
        query.urlencode(),
        key,
        label,
        "" if direction else " text-body-tertiary",
        arrow,
    )


@register.filter
def space_label(space: Any) -> str:
    """ "Space (instance)", see ``odcm.ui.space_label``."""
    return ui.space_label(space)
