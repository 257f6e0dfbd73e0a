"""Blueprints, template projects and instance baselines roll out in waves like shared variable
sets: an apply (or push) to every target passes managed.gates, a policy lets wave 1 through,
failures in wave 2 halt the rollout and wave 3 is never queued until a person resumes. A
baseline's target is a whole instance, selected by the instance's tag, region or spaces."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from managed.models import (
    BaselineApply,
    BaselineTarget,
    BlueprintApply,
    BlueprintTarget,
    Downstream,
    TemplateProject,
)
from managed.services import baseline_broker, baselines, blueprints, broker, templates
from odcm.clients import client_for
from rollouts import access, registry
from rollouts.models import PolicyWave, Rollout
from rollouts.services import actions, pipelines
from spaces.models import Instance, Space, Tag
from tests.managed.conftest import enlist_sim, space_of
from tests.managed.test_baseline import BASELINE

from .test_rollouts import drive, waves

FAST = {
    "ODCM_MANAGED_RETRY_BASE_SECONDS": "1",
    "ODCM_MANAGED_RETRY_MAX_SECONDS": "2",
    "ODCM_MANAGED_CLAIM_SECONDS": "6",
    "ODCM_OCTOPUS_READ_TIMEOUT": "2",
}
SEL = PolicyWave.Selector


def _doc(*envs: str) -> dict[str, Any]:
    return {"environments": [{"name": name} for name in envs]}


def _three_waves(kind: str, subject: Any) -> None:
    actions.save_policy(
        kind,
        subject,
        [
            {"selector": SEL.TAG, "value": "canary", "name": "Canary"},
            {"selector": SEL.REGION, "value": "eu", "name": "Europe"},
            {"selector": SEL.PERCENT, "percent": 100, "name": "Everyone else"},
        ],
        soak_seconds=1,
    )


def _at(rows: list[BlueprintTarget]) -> list[tuple[int | None, int | None]]:
    out = []
    for row in rows:
        row.refresh_from_db()
        out.append((row.target_revision, row.applied_revision))
    return out


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_a_blueprint_halts_in_wave_two_and_wave_three_is_untouched_until_resumed(
    make_sim_instance: Any, start_celery_worker: Any, login: Any, admin_user: Any
) -> None:
    from tests.managed.conftest import wait_for

    mgmt = enlist_sim(make_sim_instance("bpr-mgmt", seed=71))
    sims = {name: make_sim_instance(f"bpr-{name}", spaces=2, seed=72 + n) for n, name in
            enumerate(("canary", "eu", "rest"))}  # fmt: skip
    insts: dict[str, Instance] = {name: enlist_sim(sim) for name, sim in sims.items()}
    insts["canary"].tags.add(Tag.objects.get_or_create(name="canary")[0])
    Instance.objects.filter(pk=insts["eu"].pk).update(region="EU")
    bp = blueprints.create_blueprint("Waves", _doc("Development"), management_space=space_of(mgmt))
    blueprints.assign(bp, list(Space.objects.exclude(instance=mgmt)))
    rows = {
        name: list(BlueprintTarget.objects.filter(blueprint=bp, space__instance=inst))
        for name, inst in insts.items()
    }
    start_celery_worker(concurrency=2, **FAST)
    assert broker.queue_apply(bp) == 6  # no policy yet: everyone at once

    def applied(revision: int, names: tuple[str, ...]) -> bool:
        broker.sweep(requeue_after=20)
        return all(r == (revision, revision) for n in names for r in _at(rows[n]))

    wait_for(lambda: applied(1, ("canary", "eu", "rest")), timeout=120, every=0.5)

    _three_waves("blueprint", bp.pk)
    blueprints.save_revision(bp, _doc("Development", "Staging"))
    sims["eu"].set_faults(error_rate=1.0)
    assert broker.queue_apply(bp) == 0  # the rollout queued wave 1 itself
    rollout = Rollout.objects.get(kind="blueprint", subject_id=bp.pk, revision=2)
    assert [w.name for w in rollout.waves.order_by("position")] == [
        "Canary",
        "Europe",
        "Everyone else",
    ]
    assert _at(rows["rest"]) == [(1, 1), (1, 1)]
    drive(rollout, lambda r: r.state == Rollout.State.HALTED, timeout=120)
    assert waves(rollout) == ["done", "halted", "waiting"]
    assert _at(rows["canary"]) == [(2, 2), (2, 2)]
    assert _at(rows["rest"]) == [(1, 1), (1, 1)]  # wave 3 never queued
    assert not BlueprintApply.objects.filter(target__in=rows["rest"], revision=2).exists()
    assert "failed" in rollout.reason
    page = login(admin_user).get(reverse("managed:blueprint", args=[bp.pk])).content.decode()
    assert 'data-testid="rollout-panel"' in page and "Revision 2: Halted" in page

    sims["eu"].clear_faults()
    actions.resume(rollout)
    drive(rollout, lambda r: r.state == Rollout.State.COMPLETED, timeout=120)
    assert waves(rollout) == ["done", "done", "done"]
    assert applied(2, ("canary", "eu", "rest"))


@pytest.mark.django_db
def test_a_template_push_to_every_downstream_lets_only_wave_one_through(
    admin_user: Any, outsider: Any, login: Any
) -> None:
    made = {}
    for name in ("mgmt", "canary", "eu", "rest"):
        made[name] = Instance.objects.create(
            name=name, slug=name, base_url=f"https://{name}.example"
        )
    made["canary"].tags.add(Tag.objects.get_or_create(name="canary")[0])
    Instance.objects.filter(pk=made["eu"].pk).update(region="eu")
    home = Space.objects.create(instance=made["mgmt"], octopus_id="Spaces-1", name="Home")
    tpl = TemplateProject.objects.create(
        space=home, name="Web", octopus_project_id="Projects-1", latest_revision=2
    )
    rows = {}
    for name in ("canary", "eu", "rest"):
        space = Space.objects.create(
            instance=made[name], octopus_id="Spaces-1", name=name, slug=name
        )
        rows[name] = Downstream.objects.create(
            template=tpl,
            space=space,
            status=Downstream.Status.IN_SYNC,
            target_revision=1,
            applied_revision=1,
        )
    pinned = Downstream.objects.create(
        template=tpl,
        space=Space.objects.create(
            instance=made["rest"], octopus_id="Spaces-2", name="pin", slug="pin"
        ),
        mode=Downstream.Mode.PINNED,
        pinned_revision=1,
        status=Downstream.Status.IN_SYNC,
        applied_revision=1,
    )
    kind = registry.kind("template_project")
    assert {t.key for t in kind.targets(tpl.pk)} == {r.pk for r in rows.values()}
    assert access.subject_visible(admin_user, "template_project", tpl.pk)
    assert not access.subject_visible(outsider, "template_project", tpl.pk)
    page = f"/rollouts/policies/template_project/{tpl.pk}/"
    assert "Rollout policy of Web" in login(admin_user).get(page).content.decode()
    assert login(outsider).get(page).status_code == 404
    _three_waves("template_project", tpl.pk)
    templates.queue_push(tpl, actor=admin_user)
    rollout = Rollout.objects.get(kind="template_project", subject_id=tpl.pk)
    assert rollout.revision == 2 and waves(rollout) == ["delivering", "waiting", "waiting"]
    held = {n: Downstream.objects.get(pk=r.pk).target_revision for n, r in rows.items()}
    assert held == {"canary": 2, "eu": 1, "rest": 1}
    pinned.refresh_from_db()
    assert pinned.target_revision == 1  # a pin is not a target, and keeps its revision
    # A push to named downstreams (what the rollout itself does for later waves) is not gated.
    templates.queue_push(tpl, downstream_ids=[rows["rest"].pk])
    assert Downstream.objects.get(pk=rows["rest"].pk).target_revision == 2


def _held(rows: dict[str, BaselineTarget]) -> dict[str, tuple[int | None, int | None]]:
    out = {}
    for name, row in rows.items():
        row.refresh_from_db()
        out[name] = (row.target_revision, row.applied_revision)
    return out


def _smtp(host: str) -> dict[str, Any]:
    return {**BASELINE, "smtp": {**BASELINE["smtp"], "host": host}}


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_a_baseline_reaches_the_canary_instance_first_and_a_failure_there_halts(
    make_sim_instance: Any, start_celery_worker: Any, login: Any, admin_user: Any
) -> None:
    from tests.managed.conftest import wait_for

    sims = {name: make_sim_instance(f"blr-{name}", seed=81 + n) for n, name in
            enumerate(("canary", "one", "two"))}  # fmt: skip
    insts = {name: enlist_sim(sim) for name, sim in sims.items()}
    insts["canary"].tags.add(Tag.objects.get_or_create(name="canary")[0])
    bl = baselines.create_baseline("Fleet", _smtp("smtp.v1.example"))
    baselines.assign(bl, list(insts.values()))
    rows = {n: BaselineTarget.objects.get(baseline=bl, instance=i) for n, i in insts.items()}
    actions.save_policy(
        "baseline",
        bl.pk,
        [
            {"selector": SEL.TAG, "value": "canary", "name": "Canary"},
            {"selector": SEL.PERCENT, "percent": 100, "name": "The rest"},
        ],
        soak_seconds=1,
    )
    start_celery_worker(concurrency=2, **FAST)
    assert baseline_broker.queue_apply(bl) == 0  # the rollout queued wave 1 itself
    rollout = Rollout.objects.get(kind="baseline", subject_id=bl.pk, revision=1)
    assert [w.name for w in rollout.waves.order_by("position")] == ["Canary", "The rest"]
    assert _held(rows) == {"canary": (1, None), "one": (None, None), "two": (None, None)}
    wait_for(lambda: _held(rows)["canary"] == (1, 1), timeout=120, every=0.5)
    assert _held(rows)["one"] == (None, None)  # wave 2 waits for the rollout
    page = login(admin_user).get(reverse("rollouts:detail", args=[rollout.pk])).content.decode()
    assert 'data-testid="whole-instance"' in page and insts["canary"].name in page
    for space in Space.objects.filter(instance=insts["canary"]):
        assert space.name not in page  # no space stands in for the instance on the page

    def settled(r: Rollout) -> bool:
        baseline_broker.sweep(requeue_after=20)
        return r.state == Rollout.State.COMPLETED

    drive(rollout, settled, timeout=120)
    assert waves(rollout) == ["done", "done"]
    assert set(_held(rows).values()) == {(1, 1)}
    for inst in insts.values():
        with client_for(inst) as client:
            assert client.get("/api/smtpconfiguration")["SmtpHost"] == "smtp.v1.example"

    # Revision 2 fails on the canary: the rollout halts and the rest are never queued.
    baselines.save_revision(bl, _smtp("smtp.v2.example"))
    sims["canary"].set_faults(error_rate=1.0)
    assert baseline_broker.queue_apply(bl) == 0
    second = Rollout.objects.get(kind="baseline", subject_id=bl.pk, revision=2)
    drive(second, lambda r: r.state == Rollout.State.HALTED, timeout=120)
    assert waves(second) == ["halted", "waiting"]
    assert "failed" in second.reason
    held = _held(rows)
    assert held["canary"][0] == 2 and held["one"] == held["two"] == (1, 1)
    assert not BaselineApply.objects.filter(target__in=[rows["one"], rows["two"]], revision=2)
    page = login(admin_user).get(reverse("managed:baseline", args=[bl.pk])).content.decode()
    assert 'data-testid="rollout-panel"' in page and "Revision 2: Halted" in page
    # Applying to named instances (what a rollout does for its later waves) is not gated.
    assert baseline_broker.queue_apply(bl, target_ids=[rows["one"].pk]) == 1
    assert _held(rows)["one"][0] == 2


@pytest.mark.django_db
def test_baseline_waves_select_instances_by_their_spaces_and_region(
    admin_user: Any, outsider: Any, login: Any
) -> None:
    made = {}
    for name in ("a", "b", "c", "bare"):
        made[name] = Instance.objects.create(name=name, slug=name, base_url=f"https://{name}.x")
    Instance.objects.filter(pk=made["b"].pk).update(region="eu")
    spaces = {}
    for name in ("a", "b", "c"):
        for octopus_id, label, default in (
            ("Spaces-1", "Default", True),
            ("Spaces-2", "Ops", False),
        ):
            spaces[name, label] = Space.objects.create(
                instance=made[name],
                octopus_id=octopus_id,
                name=f"{label} {name}",
                slug=f"{label.lower()}-{name}",
                is_default=default,
            )
    bl = baselines.create_baseline("Ruled", BASELINE)
    baselines.assign(bl, list(made.values()))
    rows = {n: BaselineTarget.objects.get(baseline=bl, instance=i) for n, i in made.items()}
    kind = registry.kind("baseline")
    targets = {t.key: t for t in kind.targets(bl.pk)}
    # An instance ODCM knows no space of is not staged; each other target is a whole instance
    # its default space stands for.
    assert set(targets) == {rows[n].pk for n in ("a", "b", "c")}
    assert targets[rows["a"].pk].instance_id == made["a"].pk
    assert targets[rows["a"].pk].space_id == spaces["a", "Default"].pk
    assert access.subject_visible(admin_user, "baseline", bl.pk)
    assert not access.subject_visible(outsider, "baseline", bl.pk)
    assert not kind.may_manage(outsider, bl.pk) and kind.may_manage(admin_user, bl.pk)
    page = f"/rollouts/policies/baseline/{bl.pk}/"
    assert "Rollout policy of Ruled" in login(admin_user).get(page).content.decode()
    assert login(outsider).get(page).status_code == 404
    actions.save_policy(
        "baseline",
        bl.pk,
        [
            # Any space of an instance chosen selects the whole instance.
            {"selector": SEL.SPACES, "spaces": [spaces["c", "Ops"].pk], "name": "Pick"},
            {"selector": SEL.REGION, "value": "EU", "name": "Europe"},
        ],
    )
    assert baseline_broker.queue_apply(bl, actor=admin_user) == 1  # only "bare" passes
    rollout = Rollout.objects.get(kind="baseline", subject_id=bl.pk)
    by_wave = {
        w.name: sorted(w.targets.values_list("instance__name", flat=True))
        for w in rollout.waves.all()
    }
    assert by_wave == {"Pick": ["c"], "Europe": ["b"], "Remaining targets": ["a"]}
    assert waves(rollout) == ["delivering", "waiting", "waiting"]
    held = {n: BaselineTarget.objects.get(pk=r.pk).target_revision for n, r in rows.items()}
    assert held == {"a": None, "b": None, "c": 1, "bare": 1}
    page = login(admin_user).get(reverse("rollouts:detail", args=[rollout.pk])).content.decode()
    assert page.count('data-testid="whole-instance"') == 3
    assert "Default c" not in page and "Ops c" not in page


@pytest.mark.django_db
def test_a_baseline_in_a_pipeline_enters_stage_one_by_any_space_of_an_instance() -> None:
    made = {}
    for name in ("dev", "prod"):
        made[name] = Instance.objects.create(name=name, slug=name, base_url=f"https://{name}.x")
        for octopus_id, label in (("Spaces-1", "Default"), ("Spaces-2", "Ops")):
            Space.objects.create(
                instance=made[name],
                octopus_id=octopus_id,
                name=f"{label} {name}",
                slug=f"{label.lower()}-{name}",
                is_default=label == "Default",
            )
    bl = baselines.create_baseline("Staged", BASELINE)
    baselines.assign(bl, list(made.values()))
    pipeline = pipelines.save_pipeline(
        "Train",
        [
            # The Ops space, not the default one standing for the instance, is chosen.
            {
                "name": "dev",
                "selector": SEL.SPACES,
                "spaces": [Space.objects.get(name="Ops dev").pk],
            },
            {"name": "prod", "selector": SEL.TAG, "value": "nothing-has-it"},
        ],
    )
    pipelines.attach(pipeline, "baseline", bl.pk)
    assert baseline_broker.queue_apply(bl) == 1  # stage 1 passes the gate, the rest waits
    held = dict(BaselineTarget.objects.values_list("instance__name", "target_revision"))
    assert held == {"dev": 1, "prod": None}
