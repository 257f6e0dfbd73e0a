"""Bodies over the upload limit answer 413, on pages and the API alike.

Django raises ``RequestDataTooBig`` only when a form body is first read (often by the CSRF
check) and answers it with a generic 400. A declared length above
``DATA_UPLOAD_MAX_MEMORY_SIZE`` is refused here first, before anything reads it. Multipart
bodies are left to Django: their files stream to disk and only their fields are limited.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from odcm.api.exceptions import error_body, too_large_message


class RequestSizeLimitMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if (
            limit is not None
            and self._declared_length(request) > limit
            and not (request.content_type or "").startswith("multipart/")
        ):
            return self._too_large(request)
        return self.get_response(request)

    @staticmethod
    def _declared_length(request: HttpRequest) -> int:
        raw = request.META.get("CONTENT_LENGTH") or "0"
        return int(raw) if raw.isascii() and raw.isdecimal() else 0

    @staticmethod
    def _too_large(request: HttpRequest) -> HttpResponse:
        message = too_large_message(ValueError())
        if request.path.startswith("/api/"):
            return JsonResponse(error_body("too_large", message), status=413)
        return HttpResponse(message, status=413, content_type="text/plain; charset=utf-8")
