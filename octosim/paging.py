"""Octopus's paging envelope (``ResourceCollection``) and query helpers."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar
from urllib.parse import quote

from multidict import MultiMapping

from octosim.errors import invalid

ALL = 2147483647
DEFAULT_TAKE = 30
T = TypeVar("T")


def csv_param(query: MultiMapping[str], name: str) -> list[str]:
    """A list parameter, given comma separated and/or repeated (case-insensitive name)."""
    out: list[str] = []
    lname = name.lower()
    for key, value in query.items():
        if key.lower() == lname:
            out.extend(part.strip() for part in value.split(",") if part.strip())
    return out


def param(query: MultiMapping[str], name: str) -> str | None:
    lname = name.lower()
    for key, value in query.items():
        if key.lower() == lname:
            return value
    return None


def int_param(query: MultiMapping[str], name: str, default: int) -> int:
    raw = param(query, name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise invalid(f"The value '{raw}' is not valid for {name}.") from None


def bool_param(query: MultiMapping[str], name: str) -> bool | None:
    raw = param(query, name)
    if raw is None or raw == "":
        return None
    return raw.lower() in ("true", "1", "yes")


def filter_common(
    items: Iterable[T],
    query: MultiMapping[str],
    name_of: Callable[[T], str],
    id_of: Callable[[T], str],
) -> list[T]:
    """The filters every collection has: ``ids``, ``name`` (exact) and ``partialName``."""
    out = list(items)
    ids = csv_param(query, "ids")
    if ids:
        wanted = set(ids)
        out = [item for item in out if id_of(item) in wanted]
    name = param(query, "name")
    if name:
        out = [item for item in out if name_of(item).lower() == name.lower()]
    partial = param(query, "partialName")
    if partial:
        out = [item for item in out if partial.lower() in name_of(item).lower()]
    return out


def envelope(
    items: Sequence[T],
    query: MultiMapping[str],
    *,
    item_type: str,
    path: str,
    template: str,
    render: Callable[[T], dict[str, Any]],
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One page of ``items`` in Octopus's collection envelope."""
    skip = max(0, int_param(query, "skip", 0))
    take = int_param(query, "take", DEFAULT_TAKE)
    if take < 0:
        take = DEFAULT_TAKE
    total = len(items)
    page = items[skip : skip + take] if take else []
    pages = max(1, math.ceil(total / take)) if take else 0
    last = max(0, pages - 1)
    # Page links keep the request's filters (a client following Page.Next of a filtered
    # query, as Octopus's own clients do, must get the next page of the same query), but
    # never an ``apikey`` sent in the query string.
    filters = "".join(
        f"{quote(name)}={quote(value)}&"
        for name, value in query.items()
        if name.lower() not in ("skip", "take", "apikey")
    )

    def link(at: int, size: int) -> str:
        return f"{path}?{filters}skip={at}&take={size}"

    links = {
        "Self": link(skip, take),
        "Template": template,
        "Page.All": link(0, ALL),
        "Page.Current": link(skip, take),
        "Page.Last": link(last * take, take),
    }
    if take and skip + take < total:
        links["Page.Next"] = link(skip + take, take)
    out: dict[str, Any] = {
        "ItemType": item_type,
        "TotalResults": total,
        "ItemsPerPage": take,
        "NumberOfPages": pages,
        "LastPageNumber": last,
        "Items": [render(item) for item in page],
    }
    if extra:
        out.update(extra)
    out["Links"] = links
    return out


def q(*names: str) -> str:
    """The query part of an RFC 6570 URI template, e.g. ``{?skip,take}``."""
    return "{?" + ",".join(names) + "}"
