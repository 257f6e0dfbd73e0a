"""``python -m octosim``: start N virtual Octopus instances behind one port."""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import signal
import sys
from typing import Any

from octosim.instance import DEFAULT_VERSION
from octosim.server import Simulator


def _spaces_range(text: str) -> tuple[int, int]:
    low, _, high = text.partition("-")
    try:
        lo = int(low)
        hi = int(high) if high else lo
    except ValueError:
        raise argparse.ArgumentTypeError("--spaces takes N or LOW-HIGH, e.g. 3 or 3-6") from None
    if lo < 1 or hi < lo:
        raise argparse.ArgumentTypeError("--spaces needs 1 <= LOW <= HIGH")
    return lo, hi


def _error_status(text: str) -> int:
    try:
        status = int(text)
    except ValueError:
        status = 0
    if not 500 <= status <= 599:
        raise argparse.ArgumentTypeError("--error-status takes a status from 500 to 599")
    return status


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m octosim",
        description="A stand-in Octopus Deploy Server serving many virtual instances.",
    )
    p.add_argument(
        "--instances",
        type=int,
        default=None,
        help="how many instances (default: 1, or one per --names)",
    )
    p.add_argument(
        "--names", default="", help="comma separated instance names, e.g. brisbane,us-east"
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8081, help="port; 0 picks a free one")
    p.add_argument("--seed", type=int, default=1, help="seed for the generated content")
    p.add_argument(
        "--spaces", type=_spaces_range, default=(3, 3), help="spaces per instance: N or LOW-HIGH"
    )
    p.add_argument(
        "--versions", default=DEFAULT_VERSION, help="comma separated Octopus versions, used in turn"
    )
    p.add_argument("--latency-ms", type=int, default=0, help="added latency for every request")
    p.add_argument("--jitter-ms", type=int, default=0, help="random extra latency up to this much")
    p.add_argument(
        "--error-rate", type=float, default=0.0, help="fraction of requests answered with 500"
    )
    p.add_argument(
        "--error-status",
        type=_error_status,
        default=500,
        help="status --error-rate answers: 500 (Octopus) or 502/503/504 (a gateway)",
    )
    p.add_argument(
        "--live-activity",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="start a deployment on every touched instance each SECONDS",
    )
    p.add_argument(
        "--state-file", default=None, help="load state from / save state to this JSON file"
    )
    p.add_argument(
        "--state-dir",
        default=None,
        help="keep the state file and built-in feed packages in this folder across restarts",
    )
    p.add_argument(
        "--step-ms",
        type=int,
        default=0,
        help="how long each deployment step takes (default 1500 ms; the step_ms fault)",
    )
    p.add_argument(
        "--projects", type=int, default=None, help="projects per space (default: 4-10 at random)"
    )
    p.add_argument(
        "--steps", type=int, default=None, help="steps per generated process (default: 2-5)"
    )
    p.add_argument(
        "--nodes", type=int, default=1, help="server nodes per instance (an HA cluster when > 1)"
    )
    p.add_argument(
        "--save-every",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="also write --state-file every SECONDS (default: only at exit)",
    )
    p.add_argument(
        "--dedicated-ports", action="store_true", help="give every instance its own port too"
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print one JSON array of the instances on the first line",
    )
    return p


def _names(args: argparse.Namespace) -> list[str]:
    names = [n.strip() for n in args.names.split(",") if n.strip()]
    count = args.instances if args.instances is not None else max(1, len(names))
    width = len(str(count))
    while len(names) < count:
        names.append(f"octopus-{len(names) + 1:0{width}d}")
    return names[:count]


async def run(args: argparse.Namespace) -> int:
    faults: dict[str, Any] = {
        "latency_ms": args.latency_ms,
        "jitter_ms": args.jitter_ms,
        "error_rate": args.error_rate,
        "error_status": args.error_status,
        "step_ms": max(0, args.step_ms),
    }
    sim = Simulator(
        host=args.host,
        port=args.port,
        seed=args.seed,
        state_file=args.state_file,
        state_dir=args.state_dir,
        nodes=max(1, args.nodes),
        projects=args.projects,
        steps=args.steps,
        default_faults=faults,
        live_activity=args.live_activity,
        save_every=args.save_every,
    )
    loaded = sim.load()
    await sim.start()
    if not loaded:
        versions = [v.strip() for v in args.versions.split(",") if v.strip()] or [DEFAULT_VERSION]
        rng = random.Random(f"octosim-cli/{args.seed}")
        low, high = args.spaces
        for index, name in enumerate(_names(args)):
            sim.add_instance(
                name, spaces=rng.randint(low, high), version=versions[index % len(versions)]
            )
    if args.dedicated_ports:
        for inst in sim.instances.values():
            await sim.add_dedicated_port(inst)
    # handlers before the first line is printed: a caller may signal as soon as it reads it
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    described = [sim.describe(i) for i in sim.instances.values()]
    if args.json:
        print(json.dumps(described), flush=True)
        print(
            json.dumps({"base_url": sim.base_url, "control_url": f"{sim.base_url}/_sim"}),
            flush=True,
        )
    else:
        print(f"octosim listening on {sim.base_url} (control API: {sim.base_url}/_sim)")
        for item in described:
            print(f"{item['name']:<24} {item['url']:<48} {item['api_key']}  (v{item['version']})")
        sys.stdout.flush()
    await stop.wait()
    await sim.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return asyncio.run(run(args))
