"""A run of a template project's downstream copies picks up the copies pushed after it started:
each wave, when it starts, adds the newcomers that belong to it (the first wave not started
yet whose instance tag or region takes the space, else the last wave). Real worker, octosim."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from audit.models import AuditEntry
from managed.models import Downstream
from managed.services import templates
from octosim.testing import SimInstance
from odcm.clients import client_for
from rollouts.models import DeploymentRun, RunDeployment
from spaces.models import Space, Tag
from tests.managed.conftest import enlist_sim, space_of
from tests.managed.test_templates import build_template, push
from tests.sharing.conftest import wait_for

from .test_forms import _management, _wave

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
HELD = "Web App Held"  # the copy octosim stops at a manual intervention


def _api(api_client: Any, token_for: Any, user: Any) -> Any:
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(user)}")
    return api_client


def _release(space: Space, project: str) -> None:
    with client_for(space.instance) as client:
        client.create_release_v1(space.octopus_id, project, version="1.0.0")


def test_copies_pushed_after_the_start_join_the_waves_not_started_yet(
    make_sim_instance: Callable[..., SimInstance],
    start_celery_worker: Any,
    login: Any,
    api_client: Any,
    token_for: Any,
    admin_user: Any,
) -> None:
    mgmt = enlist_sim(make_sim_instance("nc-mgmt", spaces=1, seed=91))
    build_template(mgmt)
    template = templates.mark_template(space_of(mgmt), "Web App")
    sim_a = make_sim_instance("nc-a", spaces=3, seed=92)
    sim_b = make_sim_instance("nc-b", spaces=2, seed=93)
    sim_a.set_faults(step_ms=100, interventions=[HELD])
    sim_b.set_faults(step_ms=100)
    a = list(enlist_sim(sim_a).spaces.order_by("octopus_id"))
    inst_b = enlist_sim(sim_b)
    inst_b.tags.add(Tag.objects.get_or_create(name="canary")[0])
    b = list(inst_b.spaces.order_by("octopus_id"))
    first = [
        templates.add_downstream(template, a[0], overrides={"name": HELD}),
        templates.add_downstream(template, a[1]),
        templates.add_downstream(template, b[0]),
    ]
    templates.queue_push(template, downstream_ids=[row.pk for row in first])
    for row in first:
        assert push(row) in ("pushed", "unchanged"), row.last_error
    _release(a[0], HELD)
    _release(a[1], "Web App")
    _release(b[0], "Web App")

    start_celery_worker(concurrency=2, ODCM_RUNS_POLL_SECONDS="1")
    client = login(admin_user)
    started = client.post(
        "/rollouts/runs/new/",
        {
            "project": "",
            "template": str(template.pk),
            "new_copies": "on",
            "environment": "Development",
            "max_failures": "0",
            **_management("wave", 2),
            **_wave(0, selector="spaces", spaces=[str(a[0].pk)]),
            **_wave(1, selector="tag", value="canary"),
        },
    )
    assert started.status_code == 302, started.content.decode()
    run = DeploymentRun.objects.get()
    assert run.new_copies
    planned = dict(run.deployments.values_list("space_id", "wave__position"))
    assert planned == {a[0].pk: 1, b[0].pk: 2, a[1].pk: 3}
    # The same through the API, without newcomers: it keeps what it started with.
    api = _api(api_client, token_for, admin_user)
    body = {
        "template": str(template.pk),
        "environment": "Development",
        "waves": [[str(a[0].pk)], [str(a[1].pk)]],
        "new_copies": False,
    }
    made = api.post("/api/v1/rollouts/runs/", body, format="json")
    assert made.status_code == 201, made.json()
    assert made.json()["new_copies"] is False
    fixed = DeploymentRun.objects.get(pk=made.json()["id"])

    # Both runs wait in wave 1 for a person (a manual intervention in a[0]).
    held = RunDeployment.objects.filter(space=a[0])
    wait_for(lambda: held.exclude(interruption_id="").count() == 2, timeout=90, every=0.5)
    # Meanwhile the template reaches two more spaces (pushed by the worker): b[1] on the
    # canary instance, a[2] on the other.
    later = [templates.add_downstream(template, b[1]), templates.add_downstream(template, a[2])]
    templates.queue_push(template, downstream_ids=[row.pk for row in later])
    pushed = Downstream.objects.filter(pk__in=[row.pk for row in later])
    wait_for(lambda: not pushed.filter(octopus_project_id="").exists(), timeout=90)
    _release(b[1], "Web App")
    _release(a[2], "Web App")
    assert run.deployments.count() == 3  # nothing joins a run before its wave starts

    for waiting in held:
        answer = api.post(
            f"/api/v1/rollouts/runs/{waiting.run_id}/intervention/",
            {"deployment": str(waiting.pk), "proceed": True},
            format="json",
        )
        assert answer.status_code == 200, answer.json()
    runs = DeploymentRun.objects.filter(pk__in=[run.pk, fixed.pk])
    wait_for(lambda: not runs.filter(finished_at__isnull=True).exists(), timeout=120)

    run.refresh_from_db()
    assert run.state == DeploymentRun.State.COMPLETED, run.reason
    waves = dict(run.deployments.values_list("space_id", "wave__position"))
    # b[1]'s instance is tagged canary: wave 2; a[2] matches no wave's tag: the last wave.
    assert waves == {a[0].pk: 1, b[0].pk: 2, b[1].pk: 2, a[1].pk: 3, a[2].pk: 3}
    assert set(run.deployments.values_list("state", flat=True)) == {"success"}
    assert dict(run.deployments.values_list("space_id", "project"))[a[0].pk] == HELD
    joins = AuditEntry.objects.filter(action="rollouts.run.join", object_id=str(run.pk))
    assert sorted(e.changes["after"]["wave"] for e in joins) == [2, 3]
    assert b[1].name in client.get(f"/rollouts/runs/{run.pk}/").content.decode()

    fixed.refresh_from_db()
    assert fixed.state == DeploymentRun.State.COMPLETED, fixed.reason
    assert set(fixed.deployments.values_list("space_id", flat=True)) == {a[0].pk, a[1].pk}
