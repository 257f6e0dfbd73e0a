"""History and live activity made by the release pipeline itself: builds pushed to the
built-in feed, releases created from the project's process, deployments queued, run by
the task engine and promoted along the lifecycle, on a clock set to the past.

Seeding replays the last two weeks of a few projects per space this way (the older,
bulk history stays in the compact generated form, see octosim.seed, so a thousand
instances still fit in memory); live activity uses the same path at the present time.
"""

from __future__ import annotations

import random

from octosim import engine
from octosim import lifecycles as L
from octosim.api_packages import store_bytes
from octosim.api_releases import default_channel, make_release
from octosim.errors import ApiError
from octosim.instance import Instance
from octosim.pipeline import start_deployment
from octosim.processes import live_process
from octosim.routing import Ctx, system_ctx
from octosim.state import FINAL_STATES, DeploymentRec, Doc, ReleaseRec, clock_at, now

DAY = 86400.0
PIPELINE_PROJECTS = 2  # per space, seeded through the pipeline
FAIL_RATE = 0.12


def build(package_id: str, version: str) -> bytes:
    """A small, deterministic stand-in for a build's package."""
    body = f"{package_id} {version}\n".encode() * 16
    return b"PK\x03\x04" + body


def publish_builds(ctx: Ctx, project: Doc, version: str) -> None:
    for step in live_process(ctx.st, project)["Steps"]:
        for act in step["Actions"]:
            for ref in act["Packages"]:
                if ref["FeedId"] == "feeds-builtin":
                    name = f"{ref['PackageId']}.{version}.zip"
                    data = build(ref["PackageId"], version)
                    store_bytes(ctx.inst, str(ctx.space_id), name, data, "build-server")


def new_release(ctx: Ctx, project: Doc, moment: float) -> ReleaseRec:
    existing = [r for r in ctx.st.releases.values() if r.project_id == project["Id"]]
    number = len(existing) + 1
    version = f"3.{number // 10}.{number}"
    with clock_at(moment):
        publish_builds(ctx, project, version)
        return make_release(
            ctx, project, default_channel(ctx, project), version,
            notes=f"Build {number} of {project['Name']}", default_package_version=version,
        )  # fmt: skip


def _first_step(ctx: Ctx, project: Doc) -> str | None:
    steps = live_process(ctx.st, project)["Steps"]
    return steps[0]["Name"] if steps else None


def deploy_at(
    ctx: Ctx, rel: ReleaseRec, env: Doc, moment: float, rng: random.Random, **extra: object
) -> DeploymentRec:
    project = ctx.st.col(rel.space_id, "projects")[rel.project_id]
    if rng.random() < FAIL_RATE:
        extra.setdefault("fail_step", _first_step(ctx, project))
    extra.setdefault("step_seconds", rng.uniform(20, 120))
    with clock_at(moment):
        return start_deployment(
            ctx, rel, env, None, skip=[], machines=[], options={}, extra=dict(extra)
        )


def _ordered_envs(ctx: Ctx, rel: ReleaseRec) -> list[Doc]:
    envs = ctx.st.col(rel.space_id, "environments")
    phases = L.phases_of(ctx.st, rel.space_id, L.lifecycle_of(ctx.st, rel))
    ids = [
        e for p in phases for e in p["AutomaticDeploymentTargets"] + p["OptionalDeploymentTargets"]
    ]
    return [envs[i] for i in dict.fromkeys(ids) if i in envs]


def seed_space(inst: Instance, space_id: str, anchor: float, stuck: bool) -> None:
    """The recent history of a few projects of a space, made by the pipeline."""
    rng = random.Random(f"octosim-pipeline/{inst.seed}/{inst.slug}/{space_id}")
    ctx = system_ctx(inst, space_id)
    projects = sorted(
        (p for p in ctx.col("projects").values() if not p["IsDisabled"]),
        key=lambda p: int(p["Id"].rsplit("-", 1)[1]),
    )[:PIPELINE_PROJECTS]
    for index, project in enumerate(projects):
        moment = anchor - 14 * DAY + rng.uniform(0, DAY)
        for _ in range(2):
            rel = new_release(ctx, project, moment)
            when = moment + rng.uniform(300, 3600)
            for env in _ordered_envs(ctx, rel):
                if when > anchor - 3600:
                    break
                dep = deploy_at(ctx, rel, env, when, rng)
                with clock_at(when + 2 * 3600):
                    engine.advance(inst, now())
                task = ctx.st.tasks[dep.task_id]
                if task.state(now()) != "Success" or rng.random() < 0.3:
                    break
                when += rng.uniform(3600, 2 * DAY)
            moment += rng.uniform(2 * DAY, 5 * DAY)
        if stuck and index == 0:
            # one deployment of the instance waits on a person: a manual intervention
            rel = max((r for r in ctx.st.releases.values() if r.project_id == project["Id"]),
                      key=lambda r: r.assembled)  # fmt: skip
            env = _ordered_envs(ctx, rel)[0]
            deploy_at(ctx, rel, env, anchor - 1800, rng, intervene=True, fail_step=None)
            with clock_at(anchor - 1700):
                engine.advance(inst, now())


def live_deployment(inst: Instance, rng: random.Random) -> str | None:
    """One deployment now, as a team would do it: sometimes a new build and release, then
    the next environment of the lifecycle (or a redeployment)."""
    st = inst.state
    spaces = [s for s in st.spaces if st.col(s, "projects") and st.col(s, "environments")]
    if not spaces:
        return None
    space_id = rng.choice(spaces)
    ctx = system_ctx(inst, space_id)
    projects = [p for p in ctx.col("projects").values() if not p["IsDisabled"]]
    if not projects:
        return None
    project = rng.choice(projects)
    try:
        ours = [r for r in st.releases.values()
                if r.project_id == project["Id"] and r.snapshot is not None]  # fmt: skip
        if not ours or rng.random() < 0.4:
            rel = new_release(ctx, project, now())
        else:
            rel = max(ours, key=lambda r: r.assembled)
        moment = now()
        allowed = L.allowed_environments(st, rel, moment)
        done = {d.environment_id for d in st.deployments.values() if d.release_id == rel.id
                and (t := st.tasks.get(d.task_id)) and t.state(moment) in FINAL_STATES}  # fmt: skip
        choices = [e for e in _ordered_envs(ctx, rel) if e["Id"] in allowed]
        fresh = [e for e in choices if e["Id"] not in done]
        env = (fresh or choices)[0] if choices else None
        if env is None:
            return None
        dep = deploy_at(ctx, rel, env, moment, rng, step_seconds=rng.uniform(1, 4))
    except (ApiError, KeyError):
        return None  # e.g. a build the process cannot use: nothing happens this time
    return dep.id
