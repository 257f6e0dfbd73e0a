"""A small segment-based router for the Octopus API of one virtual instance.

Octopus serves a space-scoped resource under three forms: ``/api/{spaceId}/x``,
``/api/spaces/{spaceId}/x`` and ``/api/x`` (the default space).  ``Router.space``
registers all three; the route table is also what the Swagger conformance test walks.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, cast

from aiohttp import web
from multidict import MultiMapping

from octosim.errors import ApiError, forbidden, invalid, not_found
from octosim.instance import Instance
from octosim.permissions import permission_set, view_permission
from octosim.state import Doc, InstanceState

SPACE_ID = re.compile(r"^Spaces-\d+$", re.IGNORECASE)
Reply = tuple[int, Any] | web.StreamResponse


class RawBody:
    """A non-JSON response body (the XML deployment feed, raw task logs)."""

    def __init__(self, data: bytes, content_type: str) -> None:
        self.data = data
        self.content_type = content_type


@dataclass
class Ctx:
    """Everything a handler needs for one request."""

    inst: Instance
    request: web.Request
    params: dict[str, str]
    space_id: str | None
    access: str | None  # "full", "read", "none" (no permissions), "user" or None (anonymous)
    body: Any = None
    form: str = "system"  # "system", "space", "spaces" (/api/spaces/{id}/...) or "default"
    session_user: str | None = None  # a browser signed in through octosim/signin.py
    key_user: str | None = None  # the user whose own API key signed the request ("user")

    @property
    def st(self) -> InstanceState:
        return self.inst.state

    @property
    def query(self) -> MultiMapping[str]:
        return self.request.query

    @property
    def user_id(self) -> str:
        if self.session_user is not None:
            return self.session_user
        if self.key_user is not None:
            return self.key_user
        if self.access == "none":
            return self.inst.no_permission_user_id()
        return "Users-1" if self.access == "full" else "Users-2"

    @property
    def username(self) -> str:
        if self.session_user is not None or self.key_user is not None or self.access == "none":
            return str(self.st.sys("users")[self.user_id]["Username"])
        return "admin" if self.access == "full" else "viewer"

    @property
    def space(self) -> Doc:
        assert self.space_id is not None
        return self.st.spaces[self.space_id]

    @property
    def prefix(self) -> str:
        """The API path prefix links use for the current space."""
        return f"/api/{self.space_id}" if self.space_id else "/api"

    def col(self, name: str) -> dict[str, Doc]:
        assert self.space_id is not None
        return self.st.col(self.space_id, name)

    def json_body(self) -> dict[str, Any]:
        if not isinstance(self.body, dict):
            raise invalid("The request body must be a JSON object.")
        return self.body

    def list_field(self, body: dict[str, Any], name: str) -> list[Any]:
        """``body[name]`` as a list (missing or null: empty); anything else is a 400."""
        value = body.get(name)
        if value is None:
            return []
        if not isinstance(value, list):
            raise invalid(f"The {name} field must be a list.")
        return value

    def require_write(self, permission: str) -> None:
        if self.access == "user":
            perms = permission_set(self.st, self.user_id, None, self.space_id)
            if permission in perms["SystemPermissions"] or perms["SpacePermissions"].get(
                permission
            ):
                return
        if self.access != "full":
            raise forbidden(permission)


def system_ctx(inst: Instance, space_id: str) -> Ctx:
    """A full-access context without a request, for the simulator's own use of the API's
    services (seeding history and live activity through the real pipeline)."""
    return Ctx(inst, cast(web.Request, None), {}, space_id, "full", form="space")


Handler = Callable[[Ctx], Reply | Awaitable[Reply]]


@dataclass
class Route:
    method: str
    path: str  # full template, e.g. /api/{spaceId}/projects/{id}
    handler: Handler
    swagger: str | None  # the 2020.5 Swagger path this route answers, if any
    form: str = "system"
    auth: bool = True
    permission: str | None = None  # for writes: what a read-only key lacks
    segments: list[str] = field(default_factory=list)
    literal_count: int = 0
    view: str | None = None  # for reads: what the no-permission key lacks (None: anyone)

    def __post_init__(self) -> None:
        self.segments = [s for s in self.path.split("/") if s]
        self.literal_count = sum(1 for s in self.segments if not s.startswith("{"))
        if self.auth:
            self.view = view_permission(self.segments)

    def match(self, parts: list[str]) -> dict[str, str] | None:
        if len(parts) != len(self.segments):
            return None
        params: dict[str, str] = {}
        for seg, part in zip(self.segments, parts, strict=True):
            if seg.startswith("{"):
                name = seg[1:-1]
                if name == "spaceId" and not SPACE_ID.match(part):
                    return None
                params[name] = part
            elif seg.lower() != part.lower():
                return None
        return params


RouteKey = tuple[int, str | None, str | None]


def _literal(segments: list[str], i: int) -> str | None:
    if i < len(segments) and not segments[i].startswith("{"):
        return segments[i].lower()
    return None


class Router:
    def __init__(self) -> None:
        self.routes: list[Route] = []
        # Routes indexed by length and the literals of the 2nd and 3rd segments (None: a
        # parameter there), so a request tries a handful of routes, not a hundred; the
        # candidates keep the order of the former single list (most literals first, then
        # registration order). Lookups of the same shape are remembered.
        self._index: dict[RouteKey, list[tuple[int, Route]]] = {}
        self._candidates: dict[RouteKey, list[Route]] = {}

    def add(
        self,
        method: str,
        path: str,
        handler: Handler,
        *,
        swagger: str | None = None,
        auth: bool = True,
        permission: str | None = None,
        form: str = "system",
    ) -> None:
        route = Route(method, path, handler, swagger, form, auth, permission)
        self.routes.append(route)
        key = (len(route.segments), _literal(route.segments, 1), _literal(route.segments, 2))
        self._index.setdefault(key, []).append((len(self.routes), route))
        self._candidates.clear()

    def candidates(self, parts: list[str]) -> list[Route]:
        """Every route that may match ``parts``, in matching order."""
        n, first, second = len(parts), _literal(parts, 1), _literal(parts, 2)
        key = (n, first, second)
        found = self._candidates.get(key)
        if found is None:
            rows = [
                row
                for k in {(n, first, second), (n, first, None), (n, None, second), (n, None, None)}
                for row in self._index.get(k, [])
            ]
            found = [r for _seq, r in sorted(rows, key=lambda row: (-row[1].literal_count, row[0]))]
            if len(self._candidates) > 4096:  # ids in those segments: keep it bounded
                self._candidates.clear()
            self._candidates[key] = found
        return found

    def system(self, method: str, tail: str, handler: Handler, **kw: Any) -> None:
        """A system-level route ``/api{tail}``; Swagger path defaults to the same."""
        kw.setdefault("swagger", f"/api{tail}")
        self.add(method, f"/api{tail}", handler, **kw)

    def space(self, method: str, tail: str, handler: Handler, **kw: Any) -> None:
        """A space-scoped route under its three forms."""
        swagger = kw.pop("swagger", f"/api/{{baseSpaceId}}{tail}")
        legacy = kw.pop("legacy_swagger", f"/api{tail}")
        with_default = kw.pop("with_default", True)
        self.add(method, f"/api/{{spaceId}}{tail}", handler, swagger=swagger, form="space", **kw)
        self.add(
            method, f"/api/spaces/{{spaceId}}{tail}", handler, swagger=swagger, form="spaces", **kw
        )
        if with_default:
            self.add(method, f"/api{tail}", handler, swagger=legacy, form="default", **kw)

    def resolve(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        parts = [p for p in path.split("/") if p]
        allowed = False
        for route in self.candidates(parts):
            params = route.match(parts)
            if params is None:
                continue
            if route.method == method or (method == "HEAD" and route.method == "GET"):
                return route, params
            allowed = True
        if allowed:
            raise ApiError(405, f"The requested method {method} is not allowed for this resource.")
        raise not_found()
