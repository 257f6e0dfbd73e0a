"""Managed spaces' events for the apps above it (which managed never imports).

``page``: sender=Blueprint, TemplateProject or InstanceBaseline, request=HttpRequest, obj=the
blueprint, template project or baseline whose page is being rendered; each receiver returns a
list of ``spaces.signals.Panel`` that the page shows under the title (rollouts' progress).
"""

from typing import Any

from django.dispatch import Signal

from spaces.signals import Panel

page = Signal()


def panels(request: Any, obj: Any) -> list[Panel]:
    found: list[Panel] = []
    for _receiver, result in page.send(sender=type(obj), request=request, obj=obj):
        found.extend(p for p in (result or []) if isinstance(p, Panel))
    return sorted(found, key=lambda p: p.order)
