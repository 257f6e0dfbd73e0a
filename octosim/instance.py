"""One virtual Octopus instance: identity, keys, faults, request statistics, lazy state."""

from __future__ import annotations

import gc
import random
import re
import shutil
import tempfile
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from octosim.state import InstanceState, now

DEFAULT_VERSION = "2024.4.1234"
_KEY_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


@dataclass
class Faults:
    """Injected misbehaviour; every field's zero value means "behave normally"."""

    latency_ms: int = 0
    jitter_ms: int = 0
    offline: str | None = None  # "refuse" or "hang"
    unhealthy: bool = False
    draining: bool = False
    error_rate: float = 0.0
    error_status: int = 500  # what error_rate answers: 500 from Octopus, 502/503/504 a gateway
    rate_limit_retry_after: int | None = None
    rate_limit_count: int | None = None  # how many requests get 429 before it clears
    slow_body_ms: int = 0
    # the release pipeline: how long each deployment step takes (0: the default, 1.5 s),
    # steps that fail ({project id or name or "*": step name or "*"}) and projects whose
    # deployments stop on a manual intervention before their first step
    step_ms: int = 0
    failing_steps: dict[str, str] = field(default_factory=dict)
    interventions: list[str] = field(default_factory=list)

    def update(self, values: dict[str, Any]) -> None:
        names = {f.name for f in fields(self)}
        unknown = set(values) - names - {"version"}
        if unknown:
            raise ValueError(f"unknown fault(s): {', '.join(sorted(unknown))}")
        for key, value in values.items():
            if key == "version":
                continue
            if key == "offline" and value not in (None, "refuse", "hang"):
                raise ValueError("offline must be 'refuse', 'hang' or null")
            if key == "failing_steps" and not isinstance(value, dict):
                raise ValueError("failing_steps must be an object {project: step}")
            if key == "interventions" and not isinstance(value, list):
                raise ValueError("interventions must be a list of project ids or names")
            if key == "step_ms" and (not isinstance(value, int) or value < 0):
                raise ValueError("step_ms must be a whole number of milliseconds >= 0")
            if key == "error_status" and (
                not isinstance(value, int) or isinstance(value, bool) or not 500 <= value <= 599
            ):
                raise ValueError("error_status must be an HTTP status from 500 to 599")
            setattr(self, key, value)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug or "octopus"


def make_key(rng: random.Random) -> str:
    return "API-" + "".join(rng.choice(_KEY_ALPHABET) for _ in range(27))


class Instance:
    """A virtual Octopus Server reachable under ``/<slug>/api``."""

    def __init__(
        self,
        name: str,
        slug: str,
        *,
        seed: int,
        version: str = DEFAULT_VERSION,
        spaces: int = 3,
        nodes: int = 1,
    ) -> None:
        rng = random.Random(f"octosim-keys/{seed}/{slug}")
        self.name = name
        self.slug = slug
        self.seed = seed
        self.version = version
        self.spaces_count = max(1, spaces)
        self.api_key = make_key(rng)
        self.read_only_api_key = make_key(rng)
        self.installation_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        # drawn last so the keys and installation id above stay what they always were
        self.no_permission_api_key = make_key(rng)
        self.node_name = f"octopus-{slug}-node1"
        self.nodes_count = max(1, nodes)
        self.projects: int | None = None  # projects per space (default: 4-10 at random)
        self.steps: int | None = None  # steps per generated process (default: 2-5)
        self._data_dir: Path | None = None
        self.temporary_dir = False
        self.anchor = now()  # "now" at creation: history is spread over the 90 days before it
        self.faults = Faults()
        self.fault_rng = random.Random(f"octosim-faults/{seed}/{slug}")
        self.stats: Counter[str] = Counter()
        # Requests being answered right now, and the most at once since the last stats reset
        # (so a test can check that a client keeps to its per-server limit).
        self.in_flight = 0
        self.peak_in_flight = 0
        self.dedicated_port: int | None = None
        self._state: InstanceState | None = None
        self._no_permission_user: str | None = None

    @property
    def data_dir(self) -> Path:
        """Where this instance keeps files (built-in feed packages): under the simulator's
        state directory, or a temporary folder."""
        if self._data_dir is None:
            self._data_dir = Path(tempfile.mkdtemp(prefix=f"octosim-{self.slug}-"))
            self.temporary_dir = True
        return self._data_dir

    @data_dir.setter
    def data_dir(self, path: Path) -> None:
        self._data_dir = path

    def discard_files(self) -> None:
        """Remove a temporary data folder (never one under ``--state-dir``)."""
        if self.temporary_dir and self._data_dir is not None:
            shutil.rmtree(self._data_dir, ignore_errors=True)
            self._data_dir = None
            self.temporary_dir = False

    @property
    def loaded(self) -> bool:
        return self._state is not None

    @property
    def state(self) -> InstanceState:
        if self._state is None:
            from octosim.seed import generate  # local import: seed imports this module

            self._state = generate(self)
            # A generated instance is ~10,000 objects, nearly all kept for good. Out of the
            # cyclic collector's reach, its full passes stay short: with the 51 instances of
            # bench/fanout.py each pass walked ~490,000 objects (0.26 s of CPU at load ~11;
            # one ran during its update push). Documents dropped later are still freed by
            # reference counting (they hold no cycles).
            gc.freeze()
        return self._state

    def set_state(self, state: InstanceState) -> None:
        self._state = state

    def key_access(self, key: str | None) -> str | None:
        """Which access a key grants: "full", "read", "none" (signed in, no permissions)
        or None (no key, or an unknown one)."""
        if not key:
            return None
        if key == self.api_key:
            return "full"
        if key == self.read_only_api_key:
            return "read"
        if key == self.no_permission_api_key:
            return "none"
        return None

    def no_permission_user_id(self) -> str:
        """The id of the no-permission key's user (created again if someone deleted it)."""
        from octosim.seed import NO_PERMISSION_USERNAME, ensure_no_permission_user

        users = self.state.sys("users")
        cached = users.get(self._no_permission_user or "")
        if cached is None or cached["Username"] != NO_PERMISSION_USERNAME:
            self._no_permission_user = ensure_no_permission_user(self.state, now())
        assert self._no_permission_user is not None
        return self._no_permission_user

    def describe(self, base_url: str) -> dict[str, Any]:
        return {
            "name": self.name,
            "slug": self.slug,
            "url": f"{base_url}/{self.slug}",
            "api_key": self.api_key,
            "read_only_api_key": self.read_only_api_key,
            "no_permission_api_key": self.no_permission_api_key,
            "version": self.version,
            "installation_id": self.installation_id,
            "seed": self.seed,
            "spaces": self.spaces_count,
            "dedicated_port": self.dedicated_port,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "slug": self.slug,
            "seed": self.seed,
            "version": self.version,
            "spaces": self.spaces_count,
            "api_key": self.api_key,
            "read_only_api_key": self.read_only_api_key,
            "no_permission_api_key": self.no_permission_api_key,
            "installation_id": self.installation_id,
            "nodes": self.nodes_count,
            "projects": self.projects,
            "steps": self.steps,
            "anchor": self.anchor,
            "state": self._state.to_json() if self._state is not None else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Instance:
        inst = cls(
            data["name"],
            data["slug"],
            seed=data["seed"],
            version=data["version"],
            spaces=data["spaces"],
            nodes=data.get("nodes", 1),
        )
        inst.projects = data.get("projects")
        inst.steps = data.get("steps")
        inst.api_key = data["api_key"]
        inst.read_only_api_key = data["read_only_api_key"]
        # a state file written before the third key existed keeps the generated one
        inst.no_permission_api_key = data.get("no_permission_api_key", inst.no_permission_api_key)
        inst.installation_id = data["installation_id"]
        inst.anchor = data["anchor"]
        if data.get("state") is not None:
            inst._state = InstanceState.from_json(data["state"])
            inst.no_permission_user_id()  # such a file's state lacks the user: add it now
        return inst
