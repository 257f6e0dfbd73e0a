"""The rollouts forms: starting a deployment run (spaces found through octosim, waves by tag,
region, explicit spaces or percentage), a subject's rollout policy and a pipeline. Bad input
is a clear error next to its field and writes nothing; access goes through identity."""

from __future__ import annotations

from typing import Any

import pytest

from audit.models import AuditEntry
from identity import services as groups
from identity.models import Role
from rollouts.models import (
    DeploymentRun,
    Pipeline,
    PipelineSubject,
    PolicyWave,
    RolloutPolicy,
    RunDeployment,
)
from sharing.models import SharedItem
from spaces.models import Instance, Space, Tag
from tests.sharing.conftest import enlist_sim

from .test_api import item  # noqa: F401 - the fixture, used by name
from .test_orchestration import PROJECT, prepare


def _wave(n: int, **fields: Any) -> dict[str, Any]:
    return {f"wave-{n}-{k}": v for k, v in fields.items()}


def _management(prefix: str, total: int) -> dict[str, Any]:
    return {
        f"{prefix}-TOTAL_FORMS": str(total),
        f"{prefix}-INITIAL_FORMS": "0",
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "20",
    }


def _errors(response: Any) -> str:
    return response.content.decode()


# -- deployment runs --------------------------------------------------------------------------


@pytest.fixture
def two(make_sim_instance: Any) -> dict[str, Any]:
    """Instance "has" (tag canary, region EU): 3 spaces with the project; "lacks": 2 without."""
    has = enlist_sim(make_sim_instance("form-has", spaces=3, seed=61))
    lacks = enlist_sim(make_sim_instance("form-lacks", spaces=2, seed=62))
    prepare(has)
    has.tags.add(Tag.objects.get_or_create(name="canary")[0])
    Instance.objects.filter(pk=has.pk).update(region="EU")
    return {"has": has, "lacks": lacks}


@pytest.mark.django_db(transaction=True)
def test_run_form_finds_the_spaces_with_the_project_and_starts_waves(two, login, admin_user):
    client = login(admin_user)
    page = client.get("/rollouts/runs/new/")
    assert page.status_code == 200 and b"run-form" in page.content
    base = {"project": PROJECT, "environment": "Development", "max_failures": "0"}
    found = client.post("/rollouts/runs/new/", {**base, "find": "1", **_management("wave", 0)})
    assert found.status_code == 200
    assert "3 spaces you may deploy to have a project named" in _errors(found)
    has = list(two["has"].spaces.order_by("name"))
    for space in has:
        assert f'value="{space.pk}" selected' in _errors(found)
    for space in two["lacks"].spaces.all():
        assert f'value="{space.pk}" selected' not in _errors(found)
    assert not DeploymentRun.objects.exists()

    # No space chosen: ODCM asks Octopus which have it; 34 % of 3 is 2 spaces, then the rest.
    body = {
        **base,
        "release": "1.0.0",
        **_management("wave", 2),
        **_wave(0, selector="percent", percent="34"),
        **_wave(1, selector=""),
    }
    started = client.post("/rollouts/runs/new/", body)
    assert started.status_code == 302, _errors(started)
    run = DeploymentRun.objects.get()
    assert started["Location"] == f"/rollouts/runs/{run.pk}/"
    assert run.project == PROJECT and run.release == "1.0.0" and run.created_by == admin_user
    rows = RunDeployment.objects.filter(run=run).select_related("wave", "space")
    by_wave = sorted((r.wave.position, r.space.name) for r in rows)
    names = [s.name for s in has]
    assert by_wave == [(1, names[0]), (1, names[1]), (2, names[2])]
    assert AuditEntry.objects.filter(action="rollouts.run.start", actor=admin_user).exists()


@pytest.mark.django_db(transaction=True)
def test_run_form_waves_by_region_and_explicit_spaces_with_tenants(two, login, admin_user):
    client = login(admin_user)
    lacks = list(two["lacks"].spaces.order_by("name"))
    has = list(two["has"].spaces.order_by("name"))
    body = {
        "project": PROJECT,
        "environment": "Production",
        "tenants": "Acme, Globex",
        "max_failures": "2",
        "spaces": [str(s.pk) for s in has],
        **_management("wave", 2),
        **_wave(0, selector="spaces", spaces=[str(lacks[0].pk)]),
        **_wave(1, selector="region", value="eu"),
    }
    started = client.post("/rollouts/runs/new/", body)
    assert started.status_code == 302, _errors(started)
    run = DeploymentRun.objects.get()
    assert run.tenants == ["Acme", "Globex"] and run.max_failures == 2 and run.release == ""
    rows = RunDeployment.objects.filter(run=run).values_list("wave__position", "space_id")
    waves: dict[int, set[Any]] = {}
    for position, space in rows:
        waves.setdefault(position, set()).add(space)
    assert waves == {1: {lacks[0].pk}, 2: {s.pk for s in has}}
    assert rows.count() == 8  # four spaces, two tenants each


@pytest.mark.django_db
def test_run_form_shows_errors_and_starts_nothing(login, admin_user, member):
    inst = Instance.objects.create(name="x", slug="x", base_url="https://x.example")
    space = Space.objects.create(instance=inst, octopus_id="Spaces-1", name="S", slug="s")
    client = login(admin_user)
    bad = client.post(
        "/rollouts/runs/new/",
        {
            "project": "P",
            "environment": "",
            "release": "1.0",
            "channel": "Beta",
            "max_failures": "-1",
            **_management("wave", 1),
            **_wave(0, selector="percent"),
        },
    )
    assert bad.status_code == 200
    text = _errors(bad)
    assert "This field is required." in text  # the environment
    assert "A channel only chooses the release" in text
    assert "Give a percentage from 1 to 100." in text
    assert "greater than or equal to 0" in text
    assert not DeploymentRun.objects.exists()

    # A member without a Deployer grant cannot pick the space at all.
    client = login(member)
    refused = client.post(
        "/rollouts/runs/new/",
        {
            "project": "P",
            "environment": "Dev",
            "max_failures": "0",
            "spaces": [str(space.pk)],
            **_management("wave", 0),
        },
    )
    assert refused.status_code == 200
    assert "Select a valid choice" in _errors(refused)
    assert not DeploymentRun.objects.exists()
    group = groups.create_group(name="Deployers", members=[member])
    groups.grant(group, Role.VIEWER, space=space)
    page = client.get("/rollouts/runs/new/")
    assert str(space.pk) not in page.content.decode()  # a viewer is not offered it


@pytest.mark.django_db
def test_run_list_and_new_run_need_a_sign_in(client):
    assert client.get("/rollouts/runs/new/").status_code == 302
    assert client.get("/rollouts/runs/").status_code == 302


# -- rollout policies -------------------------------------------------------------------------


def test_policy_form_creates_edits_and_removes_a_policy(
    item: SharedItem,  # noqa: F811 - the fixture
    login: Any,
    space_owner: Any,
) -> None:
    client = login(space_owner)
    page = client.get(f"/sharing/items/{item.pk}/")
    assert b"Set a rollout policy" in page.content
    url = f"/rollouts/policies/shared_item/{item.pk}/"
    assert client.get(url).status_code == 200
    approvers = groups.create_group(name="Approvers", members=[space_owner])
    subs = list(item.subscriptions.order_by("space__name").select_related("space"))
    body = {
        "enabled": "on",
        "max_failures": "1",
        "max_failure_ratio": "0.25",
        "soak_seconds": "60",
        "approval_group": approvers.slug,
        **_management("wave", 3),
        **_wave(0, name="First", selector="spaces", spaces=[str(subs[0].space_id)]),
        **_wave(1, selector=""),
        **_wave(2, name="Half", selector="percent", percent="50"),
    }
    saved = client.post(url, body)
    assert saved.status_code == 302 and saved["Location"] == f"/sharing/items/{item.pk}/"
    policy = RolloutPolicy.objects.get(kind="shared_item", subject_id=item.pk)
    assert (policy.max_failures, policy.max_failure_ratio, policy.soak_seconds) == (1, 0.25, 60)
    assert policy.approval_group == approvers
    waves = list(policy.waves.order_by("position"))
    assert [(w.name, w.selector, w.percent) for w in waves] == [
        ("First", PolicyWave.Selector.SPACES, None),
        ("Half", PolicyWave.Selector.PERCENT, 50),
    ]
    assert [s.pk for s in waves[0].spaces.all()] == [subs[0].space_id]
    assert AuditEntry.objects.filter(action="rollouts.policy.save").count() == 1
    # The form shows what is saved.
    form = client.get(url).content.decode()
    assert 'value="Half"' in form and 'value="60"' in form

    # Bad input: errors by the field, the saved policy unchanged.
    bad = client.post(
        url,
        {
            "max_failures": "0",
            "max_failure_ratio": "2",
            "soak_seconds": "5",
            **_management("wave", 2),
            **_wave(0, selector="tag"),
            **_wave(1, selector="spaces"),
        },
    )
    assert bad.status_code == 200
    text = bad.content.decode()
    assert "less than or equal to 1" in text
    assert "Name the tag this wave takes." in text
    assert "Choose at least one space for this wave." in text
    none = client.post(
        url,
        {"max_failures": "0", "max_failure_ratio": "0", "soak_seconds": "5"}
        | _management("wave", 1)
        | _wave(0, selector=""),
    )
    assert "A policy needs at least one wave" in none.content.decode()
    policy.refresh_from_db()
    assert policy.soak_seconds == 60 and policy.waves.count() == 2

    removed = client.post(url, {"delete": "1"})
    assert removed.status_code == 302
    assert not RolloutPolicy.objects.exists()
    assert AuditEntry.objects.filter(action="rollouts.policy.delete").count() == 1


def test_policy_form_is_for_managers_of_the_subject(
    item: SharedItem,  # noqa: F811 - the fixture
    login: Any,
    member: Any,
    outsider: Any,
) -> None:
    url = f"/rollouts/policies/shared_item/{item.pk}/"
    assert login(outsider).get(url).status_code == 404
    assert login(outsider).post(url, {"delete": "1"}).status_code == 404
    assert login(member).get("/rollouts/policies/shared_item/not-a-uuid/").status_code == 404
    assert login(member).get(f"/rollouts/policies/no_such_kind/{item.pk}/").status_code == 404


def test_a_subject_is_sent_through_a_pipeline_from_the_policy_page(
    item: SharedItem,  # noqa: F811 - the fixture
    login: Any,
    space_owner: Any,
    admin_user: Any,
) -> None:
    pipeline = Pipeline.objects.create(name="Train")
    client = login(space_owner)
    url = f"/rollouts/policies/shared_item/{item.pk}/pipeline/"
    assert client.post(url, {"pipeline": "nope"}).status_code == 302
    assert not PipelineSubject.objects.exists()
    assert client.post(url, {"pipeline": str(pipeline.pk)}).status_code == 302
    link = PipelineSubject.objects.get()
    assert (link.pipeline, link.kind, link.subject_id) == (pipeline, "shared_item", item.pk)
    assert AuditEntry.objects.filter(action="rollouts.pipeline.attach").exists()


# -- pipelines --------------------------------------------------------------------------------


def test_pipeline_form_defines_and_edits_a_pipeline(
    item: SharedItem,  # noqa: F811 - the fixture
    login: Any,
    admin_user: Any,
    space_owner: Any,
) -> None:
    assert login(space_owner).get("/rollouts/pipelines/new/").status_code == 403
    client = login(admin_user)
    assert b"new-pipeline" in client.get("/rollouts/pipelines/").content
    subs = list(item.subscriptions.order_by("space__name").select_related("space"))
    inst = subs[0].space.instance
    ops = groups.create_group(name="Ops", members=[admin_user])
    body = {
        "name": "Release train",
        "description": "dev, then prod",
        **_management("stage", 3),
        **{f"stage-0-{k}": v for k, v in {"name": "dev", "selector": "spaces"}.items()},
        "stage-0-spaces": [str(subs[0].space_id)],
        "stage-0-soak_seconds": "30",
        "stage-1-selector": "",
        "stage-2-name": "prod",
        "stage-2-selector": "instances",
        "stage-2-instances": [str(inst.pk)],
        "stage-2-soak_seconds": "0",
        "stage-2-approval_group": ops.slug,
        "stage-2-allowed_versions": "2024.2.1, 2024.3.0",
    }
    made = client.post("/rollouts/pipelines/new/", body)
    assert made.status_code == 302, made.content.decode()
    pipeline = Pipeline.objects.get(name="Release train")
    assert made["Location"] == f"/rollouts/pipelines/{pipeline.pk}/"
    stages = list(pipeline.stages.order_by("position"))
    assert [(s.position, s.name, s.selector, s.soak_seconds) for s in stages] == [
        (1, "dev", "spaces", 30),
        (2, "prod", "instances", 0),
    ]
    assert stages[1].allowed_versions == ["2024.2.1", "2024.3.0"]
    assert stages[1].approval_group == ops
    assert AuditEntry.objects.filter(action="rollouts.pipeline.save").count() == 1

    edit = f"/rollouts/pipelines/{pipeline.pk}/edit/"
    form = client.get(edit).content.decode()
    assert 'value="2024.2.1, 2024.3.0"' in form
    bad = client.post(
        edit,
        {
            "name": "",
            **_management("stage", 1),
            "stage-0-selector": "tag",
            "stage-0-soak_seconds": "5",
        },
    )
    assert bad.status_code == 200
    assert "Name the tag of this stage." in bad.content.decode()
    Pipeline.objects.create(name="Other")
    taken = client.post(
        edit,
        {
            "name": "Other",
            **_management("stage", 1),
            "stage-0-selector": "region",
            "stage-0-value": "EU",
            "stage-0-soak_seconds": "5",
        },
    )
    assert "A pipeline of that name exists." in taken.content.decode()
    pipeline.refresh_from_db()
    assert pipeline.name == "Release train" and pipeline.stages.count() == 2
    renamed = client.post(
        edit,
        {
            "name": "Train",
            **_management("stage", 1),
            "stage-0-name": "everyone",
            "stage-0-selector": "region",
            "stage-0-value": "EU",
            "stage-0-soak_seconds": "5",
        },
    )
    assert renamed.status_code == 302
    pipeline.refresh_from_db()
    assert pipeline.name == "Train"
    assert list(pipeline.stages.values_list("name", "selector", "value")) == [
        ("everyone", "region", "EU")
    ]
