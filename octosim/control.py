"""The control API under ``/_sim`` (loopback only, no API key): instances, faults,
ground truth, statistics, live activity and direct edits."""

from __future__ import annotations

import ipaddress
import json
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from octosim.instance import DEFAULT_VERSION, Instance
from octosim.operations import add_activity, edit_team, edit_variable_set, truth

if TYPE_CHECKING:
    from octosim.server import Simulator

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def _body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw.strip():
        return {}
    data = json.loads(raw)
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
    }


def register(app: web.Application, sim: Simulator) -> None:
    app.middlewares.append(loopback_only)

    def find(request: web.Request) -> Instance:
        inst = sim.instances.get(request.match_info["slug"])
        if inst is None:
            raise web.HTTPNotFound(
                text=json.dumps({"error": "no such instance"}), content_type="application/json"
            )
        return inst

    async def list_instances(request: web.Request) -> web.StreamResponse:
        return web.json_response(
            {
                "base_url": sim.base_url,
                "instances": [sim.describe(i) for i in sim.instances.values()],
            }
        )

    async def create_instance(request: web.Request) -> web.StreamResponse:
        try:
            body = await _body(request)
            inst = sim.add_instance(
                body.get("name"),
                spaces=int(body.get("spaces", 3)),
                version=str(body.get("version") or DEFAULT_VERSION),
                seed=body.get("seed"),
            )
        except (ValueError, TypeError) as err:
            return _error(400, str(err))
        if body.get("dedicated_port"):
            await sim.add_dedicated_port(inst)
        return web.json_response(sim.describe(inst), status=201)

    async def get_instance(request: web.Request) -> web.StreamResponse:
        inst = find(request)
        out = sim.describe(inst)
        out["faults"] = inst.faults.as_dict()
        out["loaded"] = inst.loaded
        return web.json_response(out)

    async def delete_instance(request: web.Request) -> web.StreamResponse:
        inst = find(request)
        await sim.remove_instance(inst.slug)
        return web.json_response({"deleted": inst.slug})

    async def set_faults(request: web.Request) -> web.StreamResponse:
        inst = find(request)
        try:
            body = await _body(request)
            inst.faults.update(body)
        except (ValueError, TypeError) as err:
            return _error(400, str(err))
        if body.get("version"):
            inst.version = str(body["version"])
        if "offline" in body:
            await sim.set_listening(inst, inst.faults.offline != "refuse")
        return web.json_response({"faults": inst.faults.as_dict(), "version": inst.version})

    async def clear_faults(request: web.Request) -> web.StreamResponse:
        inst = find(request)
        inst.faults = type(inst.faults)()
        await sim.set_listening(inst, True)
        return web.json_response({"faults": inst.faults.as_dict(), "version": inst.version})

    async def get_truth(request: web.Request) -> web.StreamResponse:
        return web.json_response(truth(find(request)))

    async def get_stats(request: web.Request) -> web.StreamResponse:
        return web.json_response(stats_of(find(request)))

    async def reset_stats(request: web.Request) -> web.StreamResponse:
        inst = find(request)
        inst.stats.clear()
        return web.json_response(stats_of(inst))

    async def activity(request: web.Request) -> web.StreamResponse:
        inst = find(request)
        body = await _body(request)
        created = add_activity(inst, int(body.get("deployments", 1)), sim.rng)
        return web.json_response({"deployments": created})

    async def edit_vs(request: web.Request) -> web.StreamResponse:
        inst = find(request)
        try:
            doc = edit_variable_set(inst, request.match_info["vsid"], await _body(request))
        except KeyError:
            return _error(404, "no such variable set")
        return web.json_response({"Id": doc["Id"], "Version": doc["Version"]})

    async def raw_vs(request: web.Request) -> web.StreamResponse:
        # ground truth for tests: the stored document, sensitive values included
        inst = find(request)
        doc = inst.state.variable_sets.get(request.match_info["vsid"])
        if doc is None:
            return _error(404, "no such variable set")
        return web.json_response(doc)

    async def edit_team_h(request: web.Request) -> web.StreamResponse:
        inst = find(request)
        try:
            doc = edit_team(inst, request.match_info["team"], await _body(request))
        except KeyError:
            return _error(404, "no such team")
        return web.json_response(doc)

    async def save(request: web.Request) -> web.StreamResponse:
        if sim.state_file is None:
            return _error(400, "octosim was started without --state-file")
        sim.save()
        return web.json_response({"saved": str(sim.state_file)})

    r = app.router
    r.add_get("/_sim/instances", list_instances)
    r.add_post("/_sim/instances", create_instance)
    r.add_get("/_sim/instances/{slug}", get_instance)
    r.add_delete("/_sim/instances/{slug}", delete_instance)
    r.add_put("/_sim/instances/{slug}/faults", set_faults)
    r.add_post("/_sim/instances/{slug}/faults", set_faults)
    r.add_delete("/_sim/instances/{slug}/faults", clear_faults)
    r.add_get("/_sim/instances/{slug}/truth", get_truth)
    r.add_get("/_sim/instances/{slug}/stats", get_stats)
    r.add_delete("/_sim/instances/{slug}/stats", reset_stats)
    r.add_post("/_sim/instances/{slug}/activity", activity)
    r.add_post("/_sim/instances/{slug}/variables/{vsid}", edit_vs)
    r.add_get("/_sim/instances/{slug}/variables/{vsid}", raw_vs)
    r.add_post("/_sim/instances/{slug}/teams/{team}", edit_team_h)
    r.add_post("/_sim/save", save)
