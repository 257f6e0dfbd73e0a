"""The API's one error body, for every error any endpoint can answer with.

::

    {"code": "invalid", "message": "Check these fields: since.",
     "errors": {"since": ["Enter a valid date/time."]}, "detail": "Check these fields: since."}

- ``code``: stable, for programs: DRF's codes (``invalid``, ``parse_error``, ``not_found``,
  ``permission_denied``, ``not_authenticated``, ``method_not_allowed``, ``throttled``…), a
  service's own (``already_enlisted``, ``wrong_api_key``…), ``too_large``, ``internal``;
- ``message``: one sentence for people (``detail`` carries the same text, for DRF clients);
- ``errors``: only for invalid input: the messages of each field (``non_field_errors`` for
  the request as a whole).

Viewsets raise (DRF exceptions, ``Http404``, service errors, Octopus errors) and never catch:
the handler below chooses the status from the error's kind.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler

from octopus import UPSTREAM_KINDS, ErrorKind, OctopusError
from odcm.errors import ServiceError

log = logging.getLogger("odcm.api")

NON_FIELD = api_settings.NON_FIELD_ERRORS_KEY

# A service refusing the request's data is the request's fault (400), whatever the data
# concerned: ODCM's own "not found" and "not allowed" are raised by the views, not services.
_KIND_STATUS: dict[ErrorKind, int] = {ErrorKind.CONFLICT: status.HTTP_409_CONFLICT}


def error_body(
    code: str, message: str, errors: dict[str, list[str]] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    if errors:
        body["errors"] = errors
    body["detail"] = message
    return body


def _texts(detail: Any) -> list[str]:
    """Flatten a DRF error detail (strings, lists, nested dicts) into sentences."""
    if isinstance(detail, dict):
        return [
            f"{key}: {text}" if key != NON_FIELD else text
            for key, value in detail.items()
            for text in _texts(value)
        ]
    if isinstance(detail, list):
        return [text for value in detail for text in _texts(value)]
    return [str(detail)]


def field_errors(detail: Any) -> dict[str, list[str]]:
    """``{"field": ["message", …]}`` from a DRF validation error's detail."""
    if isinstance(detail, dict):
        return {str(key): _texts(value) for key, value in detail.items()}
    return {NON_FIELD: _texts(detail)}


def _first_code(codes: Any) -> str:
    if isinstance(codes, dict):
        codes = next(iter(codes.values()), "invalid")
    if isinstance(codes, list):
        return _first_code(codes[0]) if codes else "invalid"
    return str(codes)


def _from_drf(exc: exceptions.APIException) -> tuple[int, dict[str, Any]]:
    if isinstance(exc, exceptions.ValidationError):
        errors = field_errors(exc.detail)
        fields = [name for name in errors if name != NON_FIELD]
        if fields:
            message = f"Check these fields: {', '.join(fields)}."
        else:
            message = " ".join(errors[NON_FIELD]) or "The request is not valid."
        code = _first_code(exc.get_codes())
        code = "invalid" if code in ("required", "null", "blank") else code
        return exc.status_code, error_body(code, message, errors)
    message = " ".join(_texts(exc.detail))
    return exc.status_code, error_body(_first_code(exc.get_codes()), message)


def _from_service(exc: ServiceError) -> tuple[int, dict[str, Any]]:
    code: int
    if exc.kind in UPSTREAM_KINDS:
        code = status.HTTP_502_BAD_GATEWAY
    else:
        code = _KIND_STATUS.get(exc.kind, status.HTTP_400_BAD_REQUEST)
    errors: dict[str, list[str]] | None
    if isinstance(exc.errors, dict):
        errors = exc.errors
    else:
        errors = {NON_FIELD: exc.problems} if exc.errors else None
    return code, error_body(exc.code, exc.message, errors)


def _from_octopus(exc: OctopusError) -> tuple[int, dict[str, Any]]:
    # An Octopus error a service let through: the other side failed, or refused ODCM.
    code = status.HTTP_502_BAD_GATEWAY if exc.kind in UPSTREAM_KINDS else 400
    return code, error_body(f"octopus_{exc.kind}", f"Octopus: {exc.message}")


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    if isinstance(exc, RequestDataTooBig | TooManyFieldsSent):
        return Response(error_body("too_large", too_large_message(exc)), status=413)
    if isinstance(exc, ServiceError):
        code, body = _from_service(exc)
        return Response(body, status=code)
    if isinstance(exc, OctopusError):
        code, body = _from_octopus(exc)
        return Response(body, status=code)
    # DRF turns Django's Http404 and PermissionDenied into its own exceptions and sets the
    # authentication headers; the body is then rewritten into the one shape.
    response = drf_exception_handler(exc, context)
    if response is not None:
        converted = exc
        if not isinstance(converted, exceptions.APIException):
            converted = _as_api_exception(exc)
        response.status_code, response.data = _from_drf(converted)
        if response.status_code == 401:
            response["WWW-Authenticate"] = 'Bearer realm="odcm"'
        return response
    log.exception("Unhandled API error in %s", type(context.get("view")).__name__)
    return Response(error_body("internal", "Internal error. It has been logged."), status=500)


def _as_api_exception(exc: Exception) -> exceptions.APIException:
    # Django's exceptions keep their message, as DRF's own handler keeps it.
    if isinstance(exc, Http404):
        return exceptions.NotFound(*exc.args[:1])
    if isinstance(exc, DjangoPermissionDenied):
        return exceptions.PermissionDenied(*exc.args[:1])
    return exceptions.APIException()


def too_large_message(exc: Exception) -> str:
    if isinstance(exc, TooManyFieldsSent):
        return "The request has too many fields."
    return "The request body is larger than this server accepts."
