"""Template context shared by every page."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from odcm.build import version


def site(request: HttpRequest) -> dict[str, Any]:
    return {"site_url": settings.ODCM_SITE_URL, "debug_mode": settings.DEBUG}


def build(request: HttpRequest) -> dict[str, Any]:
    """``odcm_version`` for the footer (and any page that shows it)."""
    return {"odcm_version": version()}
