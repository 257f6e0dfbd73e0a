"""Helpers for tests and scripts: run octosim as a subprocess and drive its control API.

with SimServer(instances=2, seed=1) as sim:
    inst = sim.instances[0]          # inst.url, inst.api_key, ...
    inst.set_faults(latency_ms=200)
    extra = sim.create_instance("brisbane", spaces=4)
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _call(method: str, url: str, body: dict[str, Any] | None = None, timeout: float = 30) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    try:
        with _NO_PROXY.open(req, timeout=timeout) as resp:
            raw = resp.read()
    except urllib.error.HTTPError as err:
        detail = err.read().decode(errors="replace")[:500]
        raise RuntimeError(
            f"octosim control call {method} {url} failed: {err.code} {detail}"
        ) from None
    return json.loads(raw) if raw else None


@dataclass
class SimInstance:
    """One virtual Octopus instance of a running octosim."""

    name: str
    slug: str
    url: str  # e.g. "http://127.0.0.1:PORT/slug" (no trailing slash)
    api_key: str
    read_only_api_key: str
    version: str
    installation_id: str
    control_url: str = field(default="", repr=False)  # e.g. "http://127.0.0.1:PORT/_sim"
    # a signed-in user in no team: /api and /api/users/me work, other reads answer 403
    # (last, with a default: older octosim output and positional construction still work)
    no_permission_api_key: str = field(default="", repr=False)

    @property
    def _base(self) -> str:
        return f"{self.control_url}/instances/{self.slug}"

    def set_faults(self, **faults: Any) -> None:
        """latency_ms, jitter_ms, offline ("refuse"|"hang"|None), unhealthy, draining,
        error_rate (+ error_status, default 500; 502/503/504 answer as a gateway would),
        rate_limit_retry_after (+ rate_limit_count), slow_body_ms, version."""
        result = _call("PUT", f"{self._base}/faults", faults)
        self.version = result["version"]

    def clear_faults(self) -> None:
        result = _call("DELETE", f"{self._base}/faults")
        self.version = result["version"]

    def truth(self) -> dict[str, Any]:
        result: dict[str, Any] = _call("GET", f"{self._base}/truth")
        return result

    def sensitive_has_value(self, variable_set_id: str) -> dict[str, bool]:
        """Each sensitive variable's ``Id`` → whether it holds a value (from ``truth()``;
        the values themselves are never sent)."""
        for space in self.truth()["spaces"].values():
            found = space.get("variable_sets", {}).get(variable_set_id)
            if found is not None:
                return {v["id"]: bool(v["has_value"]) for v in found["sensitive"]}
        raise KeyError(variable_set_id)

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = _call("GET", f"{self._base}/stats")
        return result

    def reset_stats(self) -> None:
        _call("DELETE", f"{self._base}/stats")

    def add_activity(self, deployments: int = 1) -> None:
        _call("POST", f"{self._base}/activity", {"deployments": deployments})

    def edit_variable_set(
        self,
        variable_set_id: str,
        *,
        set: dict[str, str] | None = None,
        remove: list[str] | None = None,
        add: list[dict[str, Any]] | None = None,
    ) -> int:
        """Change a variable set behind the API's back (as a person would); returns the
        new ``Version``."""
        body = {"set": set or {}, "remove": remove or [], "add": add or []}
        result = _call("POST", f"{self._base}/variables/{variable_set_id}", body)
        return int(result["Version"])

    def stored_variable_set(self, variable_set_id: str) -> dict[str, Any]:
        """The variable set as stored, sensitive values included (ground truth for tests)."""
        result: dict[str, Any] = _call("GET", f"{self._base}/variables/{variable_set_id}")
        return result

    def edit_team(self, team_id: str, **change: Any) -> dict[str, Any]:
        """Change a team directly: Name, Description, MemberUserIds, add_members, remove_members."""
        result: dict[str, Any] = _call("POST", f"{self._base}/teams/{team_id}", change)
        return result

    def set_node(self, node: str, **settings: Any) -> dict[str, Any]:
        """A server node (id or name): ``offline``, ``draining``, ``max_concurrent_tasks``."""
        result: dict[str, Any] = _call("PUT", f"{self._base}/nodes/{node}", settings)
        return result


def _instance(raw: dict[str, Any], control_url: str) -> SimInstance:
    return SimInstance(
        name=raw["name"],
        slug=raw["slug"],
        url=raw["url"],
        api_key=raw["api_key"],
        read_only_api_key=raw["read_only_api_key"],
        version=raw["version"],
        installation_id=raw["installation_id"],
        control_url=control_url,
        no_permission_api_key=raw.get("no_permission_api_key", ""),
    )


def _flag(key: str, value: Any) -> list[str]:
    name = "--" + key.replace("_", "-")
    if value is True:
        return [name]
    if value is False or value is None:
        return []
    if isinstance(value, list | tuple):
        return [name, ",".join(str(v) for v in value)]
    return [name, str(value)]


class SimServer:
    """Starts ``python -m octosim --port 0 --json ...`` and stops it on exit."""

    def __init__(self, instances: int = 0, seed: int = 1, **cli_options: Any) -> None:
        self.instances_requested = instances
        self.seed = seed
        self.cli_options = cli_options
        self.base_url = ""
        self.control_url = ""
        self.instances: list[SimInstance] = []
        self.process: subprocess.Popen[str] | None = None

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "octosim", "--port", "0", "--json"]
        cmd += ["--instances", str(self.instances_requested), "--seed", str(self.seed)]
        for key, value in self.cli_options.items():
            cmd += _flag(key, value)
        return cmd

    def start(self) -> SimServer:
        env = dict(os.environ)
        env.setdefault("PYTHONUNBUFFERED", "1")
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
        self.process = subprocess.Popen(
            self.command(),
            stdout=subprocess.PIPE,
            stderr=None,
            text=True,
            env=env,
            cwd=root,
        )
        assert self.process.stdout is not None
        first = self.process.stdout.readline()
        second = self.process.stdout.readline()
        if not first or not second:
            self.stop()
            raise RuntimeError("octosim did not start (no JSON on stdout)")
        info = json.loads(second)
        self.base_url = info["base_url"]
        self.control_url = info["control_url"]
        self.instances = [_instance(raw, self.control_url) for raw in json.loads(first)]
        return self

    def stop(self) -> None:
        proc = self.process
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        if proc.stdout is not None:
            proc.stdout.close()
        self.process = None

    def __enter__(self) -> SimServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def create_instance(
        self,
        name: str | None = None,
        *,
        spaces: int = 3,
        version: str = "2024.4.1234",
        seed: int | None = None,
        dedicated_port: bool = False,
        nodes: int | None = None,
    ) -> SimInstance:
        body = {
            "name": name,
            "spaces": spaces,
            "version": version,
            "seed": seed,
            "dedicated_port": dedicated_port,
            "nodes": nodes,
        }
        inst = _instance(_call("POST", f"{self.control_url}/instances", body), self.control_url)
        self.instances.append(inst)
        return inst

    def delete_instance(self, slug: str) -> None:
        _call("DELETE", f"{self.control_url}/instances/{slug}")
        self.instances = [i for i in self.instances if i.slug != slug]
