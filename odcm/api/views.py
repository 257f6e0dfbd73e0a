"""The API's index (``GET /api/v1/``) and its answer for paths it does not have."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponsePermanentRedirect, JsonResponse
from django.urls import NoReverseMatch, Resolver404, resolve, reverse
from rest_framework import routers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from odcm.api.exceptions import error_body

# Routes outside the router, named in the index next to the router's lists.
EXTRA_LINKS = {
    "me": "api:me",
    "reports/spaces": "api:report-spaces",
    "reports/deployments": "api:report-deployments",
    "reports/versions": "api:report-versions",
    "schema": "schema",
    "docs": "swagger-ui",
}


class ApiIndex(routers.APIRootView):
    """Links to every collection of the API, its OpenAPI schema and its documentation.

    Open to everyone: it names routes (as the schema does) and holds no data."""

    permission_classes = [AllowAny]
    schema = None  # not an endpoint of the API description itself

    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        response = super().get(request, *args, **kwargs)
        links = OrderedDict(response.data)
        for key, name in EXTRA_LINKS.items():
            try:
                links[key] = request.build_absolute_uri(reverse(name))
            except NoReverseMatch:  # pragma: no cover - a renamed route must not break this
                continue
        return Response(links)


class Router(routers.DefaultRouter):
    APIRootView = ApiIndex


def _is_endpoint(path: str) -> bool:
    """Whether ``path`` reaches a real endpoint (every path reaches this catch-all)."""
    try:
        return resolve(path).func is not not_found
    except Resolver404:
        return False


def not_found(request: HttpRequest, path: str = "") -> HttpResponse:
    """Unknown paths under /api/v1/ answer in the API's error shape, not with the HTML page.

    Django's slash-appending redirect still applies: this view ends every URL list, so the
    middleware would otherwise never see a 404 for ``/api/v1/instances``."""
    if not request.path_info.endswith("/") and _is_endpoint(f"{request.path_info}/"):
        target = f"{request.path}/"
        if request.method in ("GET", "HEAD"):
            query = request.META.get("QUERY_STRING", "")
            return HttpResponsePermanentRedirect(f"{target}?{query}" if query else target)
        message = f"No API endpoint at {request.path}; did you mean {target} (with a slash)?"
    else:
        message = f"No API endpoint at {request.path}."
    return JsonResponse(error_body("not_found", message), status=404)
