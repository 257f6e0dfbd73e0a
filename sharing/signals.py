"""Sharing's events for the apps above it (which sharing never imports).

``item_page``: sender=SharedItem, request=HttpRequest, item=SharedItem: the item's page is
being rendered; each receiver returns a list of ``spaces.signals.Panel`` (slot "top") that the
page shows under the title (rollouts' progress, for example).
"""

from typing import Any

from django.dispatch import Signal

from spaces.signals import Panel

item_page = Signal()


def item_panels(request: Any, item: Any) -> list[Panel]:
    panels: list[Panel] = []
    for _receiver, result in item_page.send(sender=type(item), request=request, item=item):
        panels.extend(p for p in (result or []) if isinstance(p, Panel))
    return sorted(panels, key=lambda p: p.order)
