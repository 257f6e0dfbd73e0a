"""Project-level pages: the dashboard shell, administration, health and metrics."""

from __future__ import annotations

import hmac

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from odcm.decorators import admin_required
from odcm.health import run_checks, worker_heartbeat_age
from odcm.htmx import HtmxHttpRequest


@login_required
def home(request: HtmxHttpRequest) -> HttpResponse:
    # The dashboard belongs to monitoring; it renders odcm/home.html.
    from monitoring.views import dashboard_view

    return dashboard_view(request)


@admin_required
def administration(request: HttpRequest) -> HttpResponse:
    return render(request, "odcm/administration.html")


@require_GET
def favicon(request: HttpRequest) -> HttpResponse:
    # Browsers ask for /favicon.ico where a page names no icon (the API, plain error pages).
    return redirect(static("odcm/favicon.ico"))


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    checks = run_checks()
    failed = sorted(name for name, outcome in checks.items() if outcome != "ok")
    body: dict[str, object] = {"status": "ok" if not failed else "unavailable", "checks": checks}
    if failed:
        body["failed"] = failed
    # Informational: a stalled worker does not make the web process unhealthy.
    body["worker_heartbeat_age_seconds"] = worker_heartbeat_age()
    return JsonResponse(body, status=503 if failed else 200)


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    expected = settings.ODCM_METRICS_TOKEN
    if expected:
        presented = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(presented.encode(), expected.encode()):
            return HttpResponse("metrics token required\n", status=401, content_type="text/plain")
    return HttpResponse(generate_latest(), content_type=CONTENT_TYPE_LATEST)
