"""The control API under ``/_sim`` (loopback only, no API key): instances, faults,
ground truth, statistics, live activity and direct edits."""

from __future__ import annotations

import ipaddress
import json
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from octosim import _json as jsonio
from octosim import engine
from octosim.instance import DEFAULT_VERSION, Instance
from octosim.operations import add_activity, edit_team, edit_variable_set, truth
from octosim.state import now

if TYPE_CHECKING:
    from octosim.server import Simulator

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def _body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw.strip():
        return {}
    data = jsonio.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("body must be a JSON object")
    return data


@web.middleware
async def loopback_only(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith("/_sim"):
        remote = request.remote or ""
        try:
            ok = ipaddress.ip_address(remote).is_loopback
        except ValueError:
            ok = False
        if not ok:
            return _error(403, "the octosim control API only answers loopback clients")
    return await handler(request)


def stats_of(inst: Instance) -> dict[str, Any]:
    by_method: Counter[str] = Counter()
    by_path: dict[str, int] = {}
    by_status: dict[str, int] = {}
    for key, count in inst.stats.items():
        head, _, rest = key.partition(" ")
        if head == "status":
            by_status[rest] = count
        else:
            by_method[head] += count
            by_path[key] = count
    return {
        "total": sum(by_method.values()),
        "by_method": dict(by_method),
        "by_path": by_path,
        "by_status": by_status,
        "peak_in_flight": inst.peak_in_flight,
    }


class ControlApi:
    """Handlers of the control API; ``sim`` is the running simulator."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim

    def find(self, request: web.Request) -> Instance:
        inst = self.sim.instances.get(request.match_info["slug"])
        if inst is None:
            raise web.HTTPNotFound(
                text=json.dumps({"error": "no such instance"}), content_type="application/json"
            )
        return inst

    async def list_instances(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(
            {
                "base_url": self.sim.base_url,
                "instances": [self.sim.describe(i) for i in self.sim.instances.values()],
            }
        )

    async def create_instance(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await _body(request)
            inst = self.sim.add_instance(
                body.get("name"),
                spaces=int(body.get("spaces", 3)),
                version=str(body.get("version") or DEFAULT_VERSION),
                seed=body.get("seed"),
                nodes=int(body.get("nodes") or 0) or None,
            )
        except (ValueError, TypeError) as err:
            return _error(400, str(err))
        if body.get("dedicated_port"):
            await self.sim.add_dedicated_port(inst)
        return web.json_response(self.sim.describe(inst), status=201)

    async def get_instance(self, request: web.Request) -> web.StreamResponse:
        inst = self.find(request)
        out = self.sim.describe(inst)
        out["faults"] = inst.faults.as_dict()
        out["loaded"] = inst.loaded
        return web.json_response(out)

    async def delete_instance(self, request: web.Request) -> web.StreamResponse:
        inst = self.find(request)
        await self.sim.remove_instance(inst.slug)
        return web.json_response({"deleted": inst.slug})

    async def set_faults(self, request: web.Request) -> web.StreamResponse:
        inst = self.find(request)
        try:
            body = await _body(request)
            inst.faults.update(body)
        except (ValueError, TypeError) as err:
            return _error(400, str(err))
        if body.get("version"):
            inst.version = str(body["version"])
        if "offline" in body:
            await self.sim.set_listening(inst, inst.faults.offline != "refuse")
        return web.json_response({"faults": inst.faults.as_dict(), "version": inst.version})

    async def clear_faults(self, request: web.Request) -> web.StreamResponse:
        inst = self.find(request)
        inst.faults = type(inst.faults)()
        await self.sim.set_listening(inst, True)
        return web.json_response({"faults": inst.faults.as_dict(), "version": inst.version})

    async def get_truth(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(truth(self.find(request)))

    async def get_stats(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(stats_of(self.find(request)))

    async def reset_stats(self, request: web.Request) -> web.StreamResponse:
        inst = self.find(request)
        inst.stats.clear()
        inst.peak_in_flight = inst.in_flight
        return web.json_response(stats_of(inst))

    async def activity(self, request: web.Request) -> web.StreamResponse:
        inst = self.find(request)
        body = await _body(request)
        created = add_activity(inst, int(body.get("deployments", 1)), self.sim.rng)
        return web.json_response({"deployments": created})

    async def edit_variables(self, request: web.Request) -> web.StreamResponse:
        inst = self.find(request)
        try:
            doc = edit_variable_set(inst, request.match_info["vsid"], await _body(request))
        except KeyError:
            return _error(404, "no such variable set")
        return web.json_response({"Id": doc["Id"], "Version": doc["Version"]})

    async def stored_variables(self, request: web.Request) -> web.StreamResponse:
        # ground truth for tests: the stored document, sensitive values included
        inst = self.find(request)
        doc = inst.state.variable_sets.get(request.match_info["vsid"])
        if doc is None:
            return _error(404, "no such variable set")
        return web.json_response(doc)

    async def edit_team_doc(self, request: web.Request) -> web.StreamResponse:
        inst = self.find(request)
        try:
            doc = edit_team(inst, request.match_info["team"], await _body(request))
        except KeyError:
            return _error(404, "no such team")
        return web.json_response(doc)

    async def set_node(self, request: web.Request) -> web.StreamResponse:
        """Make a server node unhealthy (``offline``: it stops taking tasks and its last-seen
        time goes stale), draining (``draining``: maintenance mode, no new tasks) or change
        its task cap (``max_concurrent_tasks``)."""
        inst = self.find(request)
        wanted = request.match_info["node"]
        node = next((n for n in engine.nodes(inst) if wanted in (n["Id"], n["Name"])), None)
        if node is None:
            return _error(404, "no such node")
        try:
            body = await _body(request)
            unknown = set(body) - {"offline", "draining", "max_concurrent_tasks"}
            if unknown:
                raise ValueError(f"unknown node setting(s): {', '.join(sorted(unknown))}")
            if "max_concurrent_tasks" in body:
                node["MaxConcurrentTasks"] = max(0, int(body["max_concurrent_tasks"]))
        except (ValueError, TypeError) as err:
            return _error(400, str(err))
        if "offline" in body:
            node["Offline"] = bool(body["offline"])
        if "draining" in body:
            node["IsInMaintenanceMode"] = bool(body["draining"])
        engine.advance(inst, now())
        return web.json_response(node)

    async def save(self, request: web.Request) -> web.StreamResponse:
        if self.sim.state_file is None:
            return _error(400, "octosim was started without --state-file or --state-dir")
        self.sim.save()
        return web.json_response({"saved": str(self.sim.state_file)})


def register(app: web.Application, sim: Simulator) -> None:
    app.middlewares.append(loopback_only)
    c = ControlApi(sim)
    r = app.router
    r.add_get("/_sim/instances", c.list_instances)
    r.add_post("/_sim/instances", c.create_instance)
    r.add_get("/_sim/instances/{slug}", c.get_instance)
    r.add_delete("/_sim/instances/{slug}", c.delete_instance)
    r.add_put("/_sim/instances/{slug}/faults", c.set_faults)
    r.add_post("/_sim/instances/{slug}/faults", c.set_faults)
    r.add_delete("/_sim/instances/{slug}/faults", c.clear_faults)
    r.add_get("/_sim/instances/{slug}/truth", c.get_truth)
    r.add_get("/_sim/instances/{slug}/stats", c.get_stats)
    r.add_delete("/_sim/instances/{slug}/stats", c.reset_stats)
    r.add_post("/_sim/instances/{slug}/activity", c.activity)
    r.add_post("/_sim/instances/{slug}/variables/{vsid}", c.edit_variables)
    r.add_get("/_sim/instances/{slug}/variables/{vsid}", c.stored_variables)
    r.add_post("/_sim/instances/{slug}/teams/{team}", c.edit_team_doc)
    r.add_put("/_sim/instances/{slug}/nodes/{node}", c.set_node)
    r.add_post("/_sim/instances/{slug}/nodes/{node}", c.set_node)
    r.add_post("/_sim/save", c.save)
