"""What promotions shows on other apps' pages (through spaces.signals): the dashboard's
"Promotions" rows. The panel itself reads the database only (one query); each route's row
needs Octopus (the local environments' deployments), so the panel loads the rows lazily from
:func:`promotions.views.dashboard_rows`."""

from __future__ import annotations

from typing import Any

from spaces.signals import Panel

from . import access

MAX_ROUTES = 20


def dashboard_panel(request: Any) -> list[Panel]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return []
    if not access.routes(user).exists():
        return []
    return [Panel(slot="rows", template="promotions/_dashboard_panel.html", order=50)]
