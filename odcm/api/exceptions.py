"""API errors: DRF's handler, plus a JSON body (never a stack trace) for unexpected errors."""

from __future__ import annotations

import logging
from typing import Any

from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

log = logging.getLogger("odcm.api")


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    response = drf_exception_handler(exc, context)
    if response is not None:
        if response.status_code == 401:
            response["WWW-Authenticate"] = 'Bearer realm="odcm"'
        return response
    log.exception("Unhandled API error in %s", type(context.get("view")).__name__)
    return Response({"detail": "Internal error. It has been logged."}, status=500)
