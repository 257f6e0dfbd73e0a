"""Registry events other apps react to (monitoring starts watching, for example).

Sent inside the transaction that enlists; receivers that start work must defer it to commit.
"""

from dataclasses import dataclass, field
from typing import Any

from django.dispatch import Signal

# sender=Instance, instance_id=<UUID>: an instance and its chosen spaces were enlisted.
instance_enlisted = Signal()
# sender=Space, space_id=<UUID>: one more space is enlisted on an instance already enlisted.
space_enlisted = Signal()
# sender=Instance, instance_id=<UUID>: the instance's tags or region changed (rules that
# follow a tag or region, in sharing, apply again).
instance_labels_changed = Signal()

# sender=Instance, request=HttpRequest, instance=Instance: the instance's page is being
# rendered; each receiver returns a list of ``Panel`` for the apps above the registry
# (monitoring's status history and alerts) to show on the one instance page.
instance_page = Signal()


@dataclass
class Panel:
    """A part of the instance page that another app renders: ``slot`` is "top" (under the
    title, full width) or "side" (the left column); lower ``order`` comes first."""

    slot: str
    template: str
    context: dict[str, Any] = field(default_factory=dict)
    order: int = 0


def instance_panels(request: Any, instance: Any) -> dict[str, list[Panel]]:
    """The panels other apps contribute to ``instance``'s page, by slot."""
    panels: list[Panel] = []
    for _receiver, result in instance_page.send(
        sender=type(instance), request=request, instance=instance
    ):
        panels.extend(p for p in (result or []) if isinstance(p, Panel))
    by_slot: dict[str, list[Panel]] = {}
    for panel in sorted(panels, key=lambda p: p.order):
        by_slot.setdefault(panel.slot, []).append(panel)
    return by_slot


# sender=None, request=HttpRequest: the dashboard is being rendered; each receiver returns a
# list of ``Panel`` (slot "rows", under the spaces table) for what the apps above the registry
# show there (promotions: each route's progression). Receivers must not call Octopus: a panel
# that needs Octopus loads itself lazily (htmx) from its own app's view.
dashboard_page = Signal()


def dashboard_panels(request: Any) -> list[Panel]:
    """The panels other apps contribute to the dashboard, in ``order``."""
    panels: list[Panel] = []
    for _receiver, result in dashboard_page.send(sender=None, request=request):
        panels.extend(p for p in (result or []) if isinstance(p, Panel))
    return sorted(panels, key=lambda p: p.order)


# sender=None, user=User, text=str, limit=int: the global search asks the apps above the
# registry for what matches ``text`` among what ``user`` may see; each receiver returns a
# list of ``SearchHit`` (sharing: shared items). Receivers must not call Octopus.
search = Signal()


@dataclass
class SearchHit:
    """One search result another app contributes: ``kind`` names its group ("Shared items")."""

    kind: str
    label: str
    url: str
    detail: str = ""


# sender=None, user=User: the create-space form asks the apps above the registry how else a
# new space may be set up (managed: "from blueprint X"); each receiver returns a list of
# ``SetupOption`` the user may choose. Receivers must not call Octopus.
space_setup_options = Signal()
# sender=Space, space=Space, choice=str, actor=User|None: a space was created with a setup
# option chosen; the receiver that owns ``choice`` sets it up (after the commit that enlisted
# it) and returns a list of warnings for the person (never raises: the space exists already).
space_setup = Signal()


@dataclass
class SetupOption:
    """One way to set up a new space instead of the standard environments: ``key`` is
    unique across apps ("blueprint:<uuid>")."""

    key: str
    label: str


def setup_options(user: Any) -> list[SetupOption]:
    options: list[SetupOption] = []
    for _receiver, result in space_setup_options.send(sender=None, user=user):
        options.extend(o for o in (result or []) if isinstance(o, SetupOption))
    return options


def set_up(space: Any, choice: str, actor: Any = None) -> list[str]:
    """Hand ``space`` to the app that owns ``choice``; its warnings, or one if none did."""
    warnings: list[str] = []
    handled = False
    for _receiver, result in space_setup.send(
        sender=type(space), space=space, choice=choice, actor=actor
    ):
        if result is not None:
            handled = True
            warnings.extend(str(w) for w in result)
    if not handled:
        warnings.append("The chosen setup is no longer offered; the space was left blank.")
    return warnings
