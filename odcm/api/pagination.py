"""Pagination of every API list: pages (``page``, ``page_size``) or ``limit``/``offset``.

Both answer ``{"count", "next", "previous", "results"}``. ``page_size`` and ``limit`` are
capped at 500; a value that is not a whole number in range is a 400 naming the parameter
(a page past the end stays DRF's 404).
"""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination, LimitOffsetPagination, PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response

MAX_PAGE_SIZE = 500
# Beyond this an offset or page number would overflow the database's integers.
MAX_POSITION = 2**31 - 1


def whole_number(request: Request, name: str, minimum: int, maximum: int) -> int | None:
    """The parameter ``name`` as an int in [minimum, maximum], None when absent or empty."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    # isdecimal() alone accepts other scripts' digits ("²" is not, "٣" is): ASCII only.
    if not (raw.isascii() and raw.isdecimal()) or not minimum <= int(raw) <= maximum:
        raise ValidationError({name: [f"Give a whole number from {minimum} to {maximum}."]})
    return int(raw)


class _Pages(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE


class _Offsets(LimitOffsetPagination):
    default_limit = 50
    max_limit = MAX_PAGE_SIZE


class Pagination(BasePagination):
    """Pages by default; ``limit``/``offset`` when either is given."""

    def __init__(self) -> None:
        self.pages = _Pages()
        self.offsets = _Offsets()
        self.active: BasePagination = self.pages

    def paginate_queryset(self, queryset: Any, request: Request, view: Any = None) -> Any:
        whole_number(request, "page_size", 1, MAX_POSITION)
        whole_number(request, "limit", 1, MAX_POSITION)
        whole_number(request, "offset", 0, MAX_POSITION)
        page = request.query_params.get("page")
        if page not in (None, "", "last"):
            whole_number(request, "page", 1, MAX_POSITION)
        if "limit" in request.query_params or "offset" in request.query_params:
            self.active = self.offsets
        return self.active.paginate_queryset(queryset, request, view)

    def get_paginated_response(self, data: Any) -> Response:
        return self.active.get_paginated_response(data)

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        return self.pages.get_paginated_response_schema(schema)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        return [
            *self.pages.get_schema_operation_parameters(view),
            *self.offsets.get_schema_operation_parameters(view),
        ]

    def get_results(self, data: dict[str, Any]) -> Any:
        return data["results"]
