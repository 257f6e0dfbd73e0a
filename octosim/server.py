"""The aiohttp server: many virtual instances behind one port, faults, the router."""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import random
import subprocess
import tempfile
from http import HTTPStatus
from pathlib import Path
from typing import Any

from aiohttp import web

from octosim import _json as jsonio
from octosim import (
    api_admin,
    api_apikeys,
    api_channels,
    api_core,
    api_deployments,
    api_freezes,
    api_interruptions,
    api_managed,
    api_packages,
    api_processes,
    api_progression,
    api_references,
    api_releases,
    api_reporting,
    api_runbooks,
    api_smtp,
    api_space,
    api_subscriptions,
    api_system,
    api_tasks,
    api_tenant_variables,
    api_triggers,
    api_users,
    api_variables,
    engine,
    signin,
    webview,
)
from octosim.errors import ApiError, forbidden, invalid, unauthorized
from octosim.instance import DEFAULT_VERSION, Instance, slugify
from octosim.operations import add_activity
from octosim.permissions import permission_set
from octosim.routing import Ctx, RawBody, Route, Router
from octosim.state import now

log = logging.getLogger("octosim")
HANG_SECONDS = 24 * 3600
SHUTDOWN_SECONDS = 2.0  # how long in-flight requests get when octosim stops


def build_router() -> Router:
    router = Router()
    api_core.register(router)
    api_space.register(router)
    api_variables.register(router)
    api_tasks.register(router)
    api_system.register(router)
    api_users.register(router)
    api_apikeys.register(router)
    api_deployments.register(router)
    api_reporting.register(router)
    api_admin.register(router)
    api_smtp.register(router)
    api_packages.register(router)
    api_processes.register(router)
    api_channels.register(router)
    api_releases.register(router)
    api_progression.register(router)
    api_interruptions.register(router)
    api_runbooks.register(router)
    api_tenant_variables.register(router)
    api_freezes.register(router)
    api_references.register(router)
    signin.register(router)
    api_managed.register(router)
    api_subscriptions.register(router)
    api_triggers.register(router)
    return router


_CONTAINERS = (dict, list)
# Keys whose values never hold a resource with Links in Octopus (a variable set's variables
# and scope values): not walked, as they are most of a large variable set document.
_NO_LINKS = frozenset(("Links", "Variables", "ScopeValues"))


def prefix_links(payload: Any, vdir: str) -> Any:
    """Octopus hosted under a virtual directory emits host-absolute links that include the
    directory (``/slug/api/...``); handlers build ``/api/...`` and this adds the prefix.

    A loop over an explicit stack with a tuple ``isinstance``: the recursive walk (with
    ``dict | list`` unions) was octosim's largest CPU cost on a 200-variable document."""
    stack = [payload]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            links = node.get("Links")
            if isinstance(links, dict):
                node["Links"] = {
                    k: vdir + v if isinstance(v, str) and v.startswith(("/api", "/app")) else v
                    for k, v in links.items()
                }
            for key, value in node.items():
                if isinstance(value, _CONTAINERS) and key not in _NO_LINKS:
                    stack.append(value)
        else:
            stack.extend(item for item in node if isinstance(item, _CONTAINERS))
    return payload


class GatewayBody(RawBody):
    """An answer from a reverse proxy in front of Octopus (HTML, no ``Octopus-Node``)."""


def gateway_error(status: int) -> GatewayBody:
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Error"
    title = f"{status} {reason}"
    html = f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
    html += f"<center><h1>{title}</h1></center>\r\n</body>\r\n</html>\r\n"
    return GatewayBody(html.encode(), "text/html")


class Simulator:
    """All virtual instances, the shared listener and any dedicated listeners."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 1,
        state_file: str | None = None,
        state_dir: str | None = None,
        default_faults: dict[str, Any] | None = None,
        live_activity: float = 0.0,
        save_every: float = 0.0,
        nodes: int = 1,
        projects: int | None = None,
        steps: int | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.seed = seed
        # --state-dir holds the state file and every instance's files (packages)
        self.state_dir = Path(state_dir) if state_dir else None
        if self.state_dir is not None:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            state_file = state_file or str(self.state_dir / "state.json")
        self.state_file = Path(state_file) if state_file else None
        self.default_faults = dict(default_faults or {})
        self.live_activity = live_activity
        self.save_every = save_every
        self.nodes = nodes  # server nodes per instance (an HA cluster when > 1)
        self.temp_root: Path | None = None  # package files when there is no --state-dir
        self.projects = projects  # generated projects per space (None: 4-10)
        self.steps = steps  # steps per generated process (None: 2-5)
        self.instances: dict[str, Instance] = {}
        self.router = build_router()
        self.app = web.Application(client_max_size=32 * 1024 * 1024)
        from octosim import control  # local: control imports this module for typing

        control.register(self.app, self)
        self.app.router.add_route("*", "/{slug}", self.handle)
        self.app.router.add_route("*", "/{slug}/{tail:.*}", self.handle)
        self.runner: web.AppRunner | None = None
        self.sites: dict[str, web.TCPSite] = {}
        self._bg: list[asyncio.Task[None]] = []
        self._closing = asyncio.Event()
        self.rng = random.Random(f"octosim-activity/{seed}")

    # ------------------------------------------------------------ lifecycle

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        self.runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self.runner.setup()
        site = web.TCPSite(
            self.runner, self.host, self.port, reuse_address=True, shutdown_timeout=SHUTDOWN_SECONDS
        )
        await site.start()
        server = site._server
        if self.port == 0 and server is not None:
            sockets = getattr(server, "sockets", None) or []
            self.port = sockets[0].getsockname()[1]
        self._bg.append(asyncio.create_task(self._engine_loop()))
        if self.live_activity > 0:
            self._bg.append(asyncio.create_task(self._activity_loop()))
        if self.save_every > 0 and self.state_file is not None:
            self._bg.append(asyncio.create_task(self._save_loop()))

    async def stop(self) -> None:
        self._closing.set()
        for task in self._bg:
            task.cancel()
        if self.state_file is not None:
            self.save()
        if self.runner is not None:
            await self.runner.cleanup()
        if self.temp_root is not None:
            # thousands of small package files: removed by a detached process so that
            # stopping stays quick
            subprocess.Popen(
                ["rm", "-rf", str(self.temp_root)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )

    async def _save_loop(self) -> None:
        while True:
            await asyncio.sleep(self.save_every)
            self.save()

    async def _engine_loop(self) -> None:
        """Queued tasks start and steps finish even when nobody asks (requests also
        advance an instance before they are answered)."""
        while True:
            await asyncio.sleep(0.25)
            moment = now()
            for inst in list(self.instances.values()):
                if inst.loaded and inst.state.active:
                    engine.advance(inst, moment)

    async def _activity_loop(self) -> None:
        while True:
            await asyncio.sleep(self.live_activity)
            for inst in list(self.instances.values()):
                if inst.loaded:  # never generate an untouched instance just for activity
                    add_activity(inst, 1, self.rng)

    # ------------------------------------------------------------ instances

    def unique_slug(self, name: str) -> str:
        base = slugify(name)
        slug, n = base, 2
        while slug in self.instances or slug == "_sim":
            slug = f"{base}-{n}"
            n += 1
        return slug

    def add_instance(
        self,
        name: str | None = None,
        *,
        spaces: int = 3,
        version: str = DEFAULT_VERSION,
        seed: int | None = None,
        nodes: int | None = None,
    ) -> Instance:
        if not name:
            name = f"octopus-{len(self.instances) + 1}"
        slug = self.unique_slug(name)
        inst = Instance(
            name,
            slug,
            seed=self.seed if seed is None else seed,
            version=version,
            spaces=spaces,
            nodes=nodes or self.nodes,
        )
        inst.faults.update(self.default_faults)
        inst.projects, inst.steps = self.projects, self.steps
        self._place(inst)
        self.instances[slug] = inst
        return inst

    def _place(self, inst: Instance) -> None:
        if self.state_dir is not None:
            inst.data_dir = self.state_dir / "instances" / inst.slug
            return
        if self.state_file is not None:
            # a state file alone keeps the package files beside it, so they outlive a restart
            inst.data_dir = self.state_file.with_name(self.state_file.name + ".files") / inst.slug
            return
        if self.temp_root is None:
            self.temp_root = Path(tempfile.mkdtemp(prefix="octosim-"))
        inst.data_dir = self.temp_root / inst.slug
        inst.temporary_dir = True

    async def add_dedicated_port(self, inst: Instance) -> None:
        assert self.runner is not None
        site = web.TCPSite(
            self.runner,
            self.host,
            inst.dedicated_port or 0,
            reuse_address=True,
            shutdown_timeout=SHUTDOWN_SECONDS,
        )
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        inst.dedicated_port = sockets[0].getsockname()[1]
        self.sites[inst.slug] = site

    async def set_listening(self, inst: Instance, listening: bool) -> None:
        """Stop or restart an instance's dedicated listener (true connection refused)."""
        if inst.dedicated_port is None:
            return
        site = self.sites.get(inst.slug)
        if not listening and site is not None:
            await site.stop()
            del self.sites[inst.slug]
        elif listening and site is None:
            await self.add_dedicated_port(inst)

    async def remove_instance(self, slug: str) -> None:
        inst = self.instances.pop(slug)
        inst.discard_files()
        site = self.sites.pop(inst.slug, None)
        if site is not None:
            await site.stop()

    def instance_url(self, inst: Instance) -> str:
        port = inst.dedicated_port or self.port
        return f"http://{self.host}:{port}/{inst.slug}"

    def describe(self, inst: Instance) -> dict[str, Any]:
        out = inst.describe(self.base_url)
        out["url"] = self.instance_url(inst)
        return out

    # ------------------------------------------------------------ persistence

    def save(self) -> None:
        assert self.state_file is not None
        data = {
            "seed": self.seed,
            "instances": [inst.to_json() for inst in self.instances.values()],
        }
        tmp = self.state_file.with_suffix(self.state_file.suffix + ".tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(self.state_file)

    def load(self) -> bool:
        if self.state_file is None or not self.state_file.exists():
            return False
        data = jsonio.loads(self.state_file.read_text())
        for raw in data["instances"]:
            inst = Instance.from_json(raw)
            inst.faults.update(self.default_faults)
            self._place(inst)
            self.instances[inst.slug] = inst
        return True

    # ------------------------------------------------------------ requests

    async def handle(self, request: web.Request) -> web.StreamResponse:
        slug = request.match_info["slug"]
        inst = self.instances.get(slug)
        if inst is None:
            return web.json_response(
                {"ErrorMessage": f"No Octopus instance is served at /{slug}.", "Errors": []},
                status=404,
            )
        tail = "/" + request.match_info.get("tail", "")
        inst.stats[f"{request.method} {tail}"] += 1
        inst.in_flight += 1
        inst.peak_in_flight = max(inst.peak_in_flight, inst.in_flight)
        try:
            return await self._answer(request, inst, tail)
        finally:
            inst.in_flight -= 1

    async def _answer(self, request: web.Request, inst: Instance, tail: str) -> web.StreamResponse:
        faults = inst.faults
        if faults.offline == "refuse":
            if request.transport is not None:
                request.transport.abort()
            raise asyncio.CancelledError
        if faults.offline == "hang":
            await self._hang(request)
        delay = faults.latency_ms + (
            inst.fault_rng.uniform(0, faults.jitter_ms) if faults.jitter_ms else 0
        )
        if delay > 0:
            await asyncio.sleep(delay / 1000)
        status, payload, headers = self._fault_reply(inst)
        if status == 0:
            # The browser side of signing in (HTML pages, redirects, cookies): octosim/signin.py
            page = await signin.handle(inst, request, tail)
            if page is not None:
                return page
            if tail == "/app" or tail.startswith("/app/"):
                # Octopus's web UI (read-only here): deep links land on a page, not a JSON 404
                status, payload = webview.reply(inst, request.method, tail, request.query)
            else:
                status, payload, headers = await self._dispatch(inst, request, tail)
        if not isinstance(payload, GatewayBody):
            headers["Octopus-Node"] = f"name={inst.node_name}; version={inst.version}"
        inst.stats[f"status {status}"] += 1
        return await self._respond(request, inst, status, payload, headers)

    async def _hang(self, request: web.Request) -> None:
        """Accept the request and never answer, until the client gives up or we stop."""
        deadline = asyncio.get_running_loop().time() + HANG_SECONDS
        while asyncio.get_running_loop().time() < deadline and not self._closing.is_set():
            transport = request.transport
            if transport is None or transport.is_closing():
                break
            try:
                await asyncio.wait_for(self._closing.wait(), 0.5)
            except TimeoutError:
                continue
        if request.transport is not None:
            request.transport.abort()
        raise asyncio.CancelledError

    def _fault_reply(self, inst: Instance) -> tuple[int, Any, dict[str, str]]:
        faults = inst.faults
        if faults.rate_limit_retry_after is not None:
            retry_after = int(faults.rate_limit_retry_after)
            if faults.rate_limit_count is not None:
                faults.rate_limit_count -= 1
                if faults.rate_limit_count <= 0:
                    faults.rate_limit_retry_after = None
                    faults.rate_limit_count = None
            return (
                429,
                {"ErrorMessage": "Too many requests. Please retry later.", "Errors": []},
                {"Retry-After": str(retry_after)},
            )
        if faults.error_rate > 0 and inst.fault_rng.random() < faults.error_rate:
            if faults.error_status != 500:
                return faults.error_status, gateway_error(faults.error_status), {}
            return (
                500,
                {
                    "ErrorMessage": "An unexpected error occurred in Octopus Server.",
                    "Errors": [],
                    "FullException": "System.InvalidOperationException: injected fault (octosim)",
                },
                {},
            )
        return 0, None, {}

    async def _dispatch(
        self, inst: Instance, request: web.Request, tail: str
    ) -> tuple[int, Any, dict[str, str]]:
        try:
            route, params = self.router.resolve(request.method, tail)
            if inst.loaded:
                engine.advance(inst, now())
            ctx = await self._context(inst, request, route, params)
            result = route.handler(ctx)
            reply = await result if inspect.isawaitable(result) else result
            if isinstance(reply, web.StreamResponse):
                return -1, reply, {}
            status, payload = reply
            return status, payload, {}
        except ApiError as err:
            return err.status, err.body(), dict(err.headers)
        except (TypeError, AttributeError, KeyError) as err:
            # a value of the wrong type deep in a body (a number where a list belongs, ...):
            # Octopus's model binding answers 400, never a stack trace
            log.warning("answered 400 to %s %s: %r", request.method, tail, err, exc_info=True)
            body = invalid("A value in the request has the wrong type or shape.").body()
            return 400, body, {}

    async def _context(
        self, inst: Instance, request: web.Request, route: Route, params: dict[str, str]
    ) -> Ctx:
        key = request.headers.get("X-Octopus-ApiKey")
        if not key:
            key = next((v for k, v in request.query.items() if k.lower() == "apikey"), None)
        access = inst.key_access(key)
        key_user = None
        if key and access is None:
            # a key created through /api/users/{id}/apikeys acts as its user (teams only)
            key_user = api_apikeys.user_of_key(inst.state, key)
            if key_user is None:
                raise unauthorized()
            access = "user"
            self._check_user_key(inst, route, params, key_user, request.method)
        user = signin.session_user(inst, request) if not key else None
        if user is not None:
            access = "session"
            self._check_session(inst, route, params, user, request.method)
        if route.auth and access is None:
            raise unauthorized()
        if (
            route.permission
            and request.method not in ("GET", "HEAD")
            and access not in ("full", "user")
        ):
            raise forbidden(route.permission)
        if access == "none" and route.view and request.method in ("GET", "HEAD"):
            # a user in no team may read only itself (users/me, users/{own id}/…)
            own = params.get("id", "").lower() == inst.no_permission_user_id().lower()
            if not (route.view == "UserView" and own):
                raise forbidden(route.view)
        space_id: str | None = params.get("spaceId")
        if route.form == "default":
            space_id = inst.state.default_space_id()
        ctx = Ctx(
            inst, request, params, space_id, access, form=route.form, session_user=user,
            key_user=key_user,
        )  # fmt: skip
        streamed = request.content_type.startswith(("multipart/", "application/octet-stream"))
        if request.method in ("POST", "PUT") and request.can_read_body and not streamed:
            raw = await request.read()
            if raw.strip():
                try:
                    ctx.body = jsonio.loads(raw)
                except ValueError:
                    raise invalid("The request body could not be parsed as JSON.") from None
        return ctx

    def _check_user_key(
        self, inst: Instance, route: Route, params: dict[str, str], user: str, method: str
    ) -> None:
        """A user's own key holds what the user's teams grant: a read needs the route's view
        permission, a write its permission, somewhere in the space or system-wide (the
        handler checks a narrower scope where Octopus does, as for deployments)."""
        if not route.auth:
            return
        reading = method in ("GET", "HEAD")
        needed = route.view if reading else route.permission
        if needed is None:
            return
        space_id = params.get("spaceId")
        if route.form == "default":
            space_id = inst.state.default_space_id()
        perms = permission_set(inst.state, user, None, space_id)
        held = needed in perms["SystemPermissions"] or bool(perms["SpacePermissions"].get(needed))
        own = reading and needed == "UserView" and params.get("id", "").lower() == user.lower()
        if not (held or own):
            raise forbidden(needed)

    def _check_session(
        self, inst: Instance, route: Route, params: dict[str, str], user: str, method: str
    ) -> None:
        """A browser session reads with its user's own permissions (teams, including those
        reached through the groups claimed at sign-in); octosim lets sessions only read."""
        if method not in ("GET", "HEAD"):
            raise forbidden(route.permission or "a permission octosim gives API keys only")
        if not route.auth or route.view is None:
            return
        space_id = params.get("spaceId")
        if route.form == "default":
            space_id = inst.state.default_space_id()
        perms = permission_set(inst.state, user, None, space_id)
        held = route.view in perms["SystemPermissions"] or bool(
            perms["SpacePermissions"].get(route.view)
        )
        own = route.view == "UserView" and params.get("id", "").lower() == user.lower()
        if not (held or own):
            raise forbidden(route.view)

    async def _respond(
        self,
        request: web.Request,
        inst: Instance,
        status: int,
        payload: Any,
        headers: dict[str, str],
    ) -> web.StreamResponse:
        if status == -1:
            resp: web.StreamResponse = payload
            for key, value in headers.items():
                resp.headers[key] = value
            return resp
        if isinstance(payload, web.StreamResponse):
            return payload
        content_type = "application/json; charset=utf-8"
        if isinstance(payload, RawBody):
            body, content_type = payload.data, payload.content_type
        else:
            body = b"" if payload is None else jsonio.dumps(prefix_links(payload, "/" + inst.slug))
        slow = inst.faults.slow_body_ms
        if slow <= 0 or len(body) == 0:
            return web.Response(
                status=status, body=body, headers={**headers, "Content-Type": content_type}
            )
        resp = web.StreamResponse(status=status, headers={**headers, "Content-Type": content_type})
        resp.content_length = len(body)
        await resp.prepare(request)
        chunks = 10
        size = max(1, -(-len(body) // chunks))
        for start in range(0, len(body), size):
            await resp.write(body[start : start + size])
            await asyncio.sleep(slow / 1000 / chunks)
        await resp.write_eof()
        return resp
