"""Blueprints and template projects roll out in waves like shared variable sets: an apply (or
push) to every target passes managed.gates, a policy lets wave 1 through, failures in wave 2
halt the rollout and wave 3 is never queued until a person resumes."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from managed.models import BlueprintApply, BlueprintTarget, Downstream, TemplateProject
from managed.services import blueprints, broker, templates
from rollouts import access, registry
from rollouts.models import PolicyWave, Rollout
from rollouts.services import actions
from spaces.models import Instance, Space, Tag
from tests.managed.conftest import enlist_sim, space_of

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
