"""Project-level pages: administration, the favicon and metrics. (The home page is
monitoring's dashboard, routed in odcm/urls.py; the probes are answered by
``odcm.health.ProbeMiddleware``.)"""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from odcm.decorators import admin_required
from odcm.metrics import scrape_registry


@admin_required
def administration(request: HttpRequest) -> HttpResponse:
    return render(request, "odcm/administration.html")


@require_GET
def favicon(request: HttpRequest) -> HttpResponse:
    # Browsers ask for /favicon.ico where a page names no icon (the API, plain error pages).
    return redirect(static("odcm/favicon.ico"))


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    expected = settings.ODCM_METRICS_TOKEN
    if expected:
        presented = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(presented.encode(), expected.encode()):
            return HttpResponse("metrics token required\n", status=401, content_type="text/plain")
    return HttpResponse(generate_latest(scrape_registry()), content_type=CONTENT_TYPE_LATEST)
