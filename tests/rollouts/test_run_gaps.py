"""Issue 16's gaps: a run's ratio failure limit (a real worker against octosim), taking a
subject out of its pipeline."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from audit.models import AuditEntry
from managed.services import templates
from octosim.testing import SimInstance
from odcm.clients import client_for
from rollouts.models import DeploymentRun, Pipeline, PipelineSubject
from sharing.models import SharedItem, Subscription
from sharing.services import items
from spaces.models import Instance, Space
from tests.managed.conftest import enlist_sim as managed_enlist
from tests.managed.conftest import space_of
from tests.managed.test_templates import build_template, push
from tests.sharing.conftest import enlist_sim, wait_for

from .conftest import variables_v
from .test_api import item  # noqa: F401 - the fixture, used by name
from .test_forms import _management
from .test_orchestration import PROJECT, STEP, prepare
from .test_pipelines_api import _body


def _api(api_client: Any, token_for: Any, user: Any) -> Any:
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(user)}")
    return api_client


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_run_stops_when_the_failed_share_of_started_deployments_passes_the_ratio(
    make_sim_instance: Callable[..., SimInstance],
    start_celery_worker,
    api_client,
    token_for,
    admin_user,
):
    good = make_sim_instance("ratio-good", spaces=4, seed=71)
    bad = make_sim_instance("ratio-bad", spaces=2, seed=72)
    good.set_faults(step_ms=100)
    bad.set_faults(step_ms=100, failing_steps={PROJECT: STEP})
    a = prepare(enlist_sim(good))
    b = prepare(enlist_sim(bad))
    start_celery_worker(concurrency=2, ODCM_RUNS_POLL_SECONDS="1")
    api = _api(api_client, token_for, admin_user)
    body = {
        "project": PROJECT,
        "environment": "Development",
        # 1 of 4 fails (25 %: goes on), then 2 of 5 (40 %: stops before wave 3).
        "waves": [[str(s.pk) for s in [*a[:3], b[0]]], [str(b[1].pk)], [str(a[3].pk)]],
        "max_failures": 10,  # the count alone would never stop it
        "max_failure_ratio": 0.3,
    }
    bad_ratio = api.post(
        "/api/v1/rollouts/runs/", {**body, "max_failure_ratio": 1.5}, format="json"
    )
    assert bad_ratio.status_code == 400 and "max_failure_ratio" in str(bad_ratio.json())
    assert DeploymentRun.objects.count() == 0
    started = api.post("/api/v1/rollouts/runs/", body, format="json")
    assert started.status_code == 201, started.json()
    assert started.json()["max_failure_ratio"] == 0.3
    run_id = started.json()["id"]
    wait_for(
        lambda: DeploymentRun.objects.get(pk=run_id).state != "running", timeout=120, every=0.5
    )
    run = DeploymentRun.objects.get(pk=run_id)
    assert run.state == DeploymentRun.State.STOPPED, run.reason
    assert "2 of 5" in run.reason
    states = dict(run.deployments.values_list("wave__position", "state").order_by("wave__position"))
    by_wave: dict[int, set[str]] = {}
    for position, state in run.deployments.values_list("wave__position", "state"):
        by_wave.setdefault(position, set()).add(state)
    assert by_wave[1] == {"success", "failed"}, states
    assert by_wave[2] == {"failed"}
    assert by_wave[3] == {"not_started"}


@pytest.mark.django_db
def test_the_run_form_takes_a_failure_ratio_and_refuses_one_over_1(login, admin_user):
    inst = Instance.objects.create(name="x", slug="x", base_url="https://x.example")
    space = Space.objects.create(instance=inst, octopus_id="Spaces-1", name="S", slug="s")
    client = login(admin_user)
    body = {
        "project": "P",
        "environment": "Dev",
        "max_failures": "0",
        "spaces": [str(space.pk)],
        **_management("wave", 0),
    }
    bad = client.post("/rollouts/runs/new/", {**body, "max_failure_ratio": "2"})
    assert bad.status_code == 200 and "less than or equal to 1" in bad.content.decode()
    assert not DeploymentRun.objects.exists()
    # (not a transactional test: the follow task queued on commit never runs)
    good = client.post("/rollouts/runs/new/", {**body, "max_failure_ratio": "0.25"})
    assert good.status_code == 302, good.content.decode()
    run = DeploymentRun.objects.get()
    assert run.max_failure_ratio == 0.25
    assert "25% of those started" in client.get(f"/rollouts/runs/{run.pk}/").content.decode()


# -- detaching a subject from a pipeline ---------------------------------------------------------


@pytest.mark.django_db
def test_a_subject_is_taken_out_of_its_pipeline_from_the_policy_page_and_the_api(
    item: SharedItem,  # noqa: F811 - the fixture
    login: Any,
    api_client: Any,
    token_for: Any,
    admin_user: Any,
    space_owner: Any,
    member: Any,
    outsider: Any,
) -> None:
    subs = list(item.subscriptions.order_by("space__name").select_related("space"))
    api = _api(api_client, token_for, admin_user)
    made = api.post(
        "/api/v1/rollouts/pipelines/",
        _body([subs[0].space], [s.space for s in subs[1:]]),
        format="json",
    )
    pipeline = Pipeline.objects.get(pk=made.json()["id"])
    client = login(space_owner)
    page_url = f"/rollouts/policies/shared_item/{item.pk}/"
    assert b"detach-pipeline" not in client.get(page_url).content  # in no pipeline yet
    client.post(f"{page_url}pipeline/", {"pipeline": str(pipeline.pk)})
    items.save_revision(item, variables_v(2))
    targets = Subscription.objects.filter(item=item).order_by("space__name")
    assert list(targets.values_list("target_revision", flat=True)) == [2, 1, 1, 1]
    assert b"detach-pipeline" in client.get(page_url).content

    detach = f"{page_url}pipeline/detach/"
    assert login(outsider).post(detach).status_code == 404
    Instance.objects.get(name="subs").owners.add(member)  # sees the item as a subscriber
    assert login(member).post(detach).status_code == 403
    assert PipelineSubject.objects.exists()
    assert client.get(detach).status_code == 302 and PipelineSubject.objects.exists()
    assert client.post(detach).status_code == 302
    assert not PipelineSubject.objects.exists()
    entry = AuditEntry.objects.get(action="rollouts.pipeline.detach")
    assert entry.actor == space_owner
    # Out of the pipeline (and with no policy): the next revision goes to everyone.
    items.save_revision(item, variables_v(3))
    assert list(targets.values_list("target_revision", flat=True)) == [3, 3, 3, 3]
    assert client.post(detach).status_code == 302  # again: nothing to do, nothing audited
    assert AuditEntry.objects.filter(action="rollouts.pipeline.detach").count() == 1

    subject = {"kind": "shared_item", "subject_id": str(item.pk)}
    url = f"/api/v1/rollouts/pipelines/{pipeline.pk}/"
    api = _api(api_client, token_for, space_owner)
    assert api.post(f"{url}attach/", subject).status_code == 200
    assert _api(api_client, token_for, outsider).post(f"{url}detach/", subject).status_code == 404
    assert _api(api_client, token_for, member).post(f"{url}detach/", subject).status_code == 403
    api = _api(api_client, token_for, space_owner)
    assert api.post(f"{url}detach/", subject).status_code == 204
    assert not PipelineSubject.objects.exists()
    assert api.post(f"{url}detach/", subject).status_code == 404


# -- the downstream copies of a template project ---------------------------------------------


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_run_deploys_the_downstream_copies_of_a_template_each_under_its_own_name(
    make_sim_instance: Callable[..., SimInstance],
    start_celery_worker: Any,
    login: Any,
    api_client: Any,
    token_for: Any,
    admin_user: Any,
) -> None:
    mgmt = managed_enlist(make_sim_instance("tpl-mgmt", spaces=1, seed=81))
    build_template(mgmt)
    template = templates.mark_template(space_of(mgmt), "Web App")
    other_sim = make_sim_instance("tpl-copies", spaces=3, seed=82)
    other_sim.set_faults(step_ms=100)
    spaces = list(managed_enlist(other_sim).spaces.order_by("octopus_id"))
    plain = templates.add_downstream(template, spaces[0])
    renamed = templates.add_downstream(template, spaces[1], overrides={"name": "Web App EU"})
    templates.queue_push(template, downstream_ids=[plain.pk, renamed.pk])
    for row in (plain, renamed):
        assert push(row) in ("pushed", "unchanged"), row.last_error
        row.refresh_from_db()
        assert row.octopus_project_id, row.last_error
    with client_for(spaces[0].instance) as client:
        client.create_release_v1(spaces[0].octopus_id, "Web App", version="1.0.0")
        client.create_release_v1(spaces[1].octopus_id, "Web App EU", version="2.0.0")

    client = login(admin_user)
    page = client.get("/rollouts/runs/new/").content.decode()
    assert f'value="{template.pk}"' in page  # offered: it has copies the admin may deploy to
    base = {"project": "", "template": str(template.pk), "environment": "Development"}
    found = client.post("/rollouts/runs/new/", {**base, "find": "1", **_management("wave", 0)})
    text = found.content.decode()
    assert "2 spaces you may deploy to hold a copy of &#x27;Web App&#x27;" in text, text
    assert "Web App EU" in text
    both = client.post(
        "/rollouts/runs/new/",
        {**base, "project": "Web App", "max_failures": "0", **_management("wave", 0)},
    )
    assert "not both" in both.content.decode() and not DeploymentRun.objects.exists()
    no_copy = client.post(
        "/rollouts/runs/new/",
        {**base, "max_failures": "0", "spaces": [str(spaces[2].pk)], **_management("wave", 0)},
    )
    assert "hold no copy of Web App" in no_copy.content.decode()
    assert not DeploymentRun.objects.exists()

    start_celery_worker(concurrency=2, ODCM_RUNS_POLL_SECONDS="1")
    started = client.post(
        "/rollouts/runs/new/", {**base, "max_failures": "0", **_management("wave", 0)}
    )
    assert started.status_code == 302, started.content.decode()
    run = DeploymentRun.objects.get()
    assert run.template_id == template.pk and run.project == "Web App"
    rows = dict(run.deployments.values_list("space_id", "project"))
    assert rows == {spaces[0].pk: "", spaces[1].pk: "Web App EU"}
    wait_for(lambda: DeploymentRun.objects.get(pk=run.pk).state != "running", timeout=120)
    run.refresh_from_db()
    assert run.state == DeploymentRun.State.COMPLETED, run.reason
    done = dict(run.deployments.values_list("space_id", "release"))
    assert done == {spaces[0].pk: "1.0.0", spaces[1].pk: "2.0.0"}
    assert set(run.deployments.values_list("state", flat=True)) == {"success"}
    assert "project Web App EU" in client.get(f"/rollouts/runs/{run.pk}/").content.decode()

    api = _api(api_client, token_for, admin_user)
    body = {
        "template": str(template.pk),
        "environment": "Development",
        "waves": [[str(spaces[0].pk), str(spaces[2].pk)]],
    }
    refused = api.post("/api/v1/rollouts/runs/", body, format="json")
    assert refused.status_code == 400 and "hold no copy" in str(refused.json())
    both_api = api.post("/api/v1/rollouts/runs/", {**body, "project": "X"}, format="json")
    assert both_api.status_code == 400
    body["waves"] = [[str(spaces[1].pk)]]
    made = api.post("/api/v1/rollouts/runs/", body, format="json")
    assert made.status_code == 201, made.json()
    assert [d["project_name"] for d in made.json()["deployments"]] == ["Web App EU"]
    assert DeploymentRun.objects.count() == 2
