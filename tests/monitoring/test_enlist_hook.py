"""Enlisting in the registry starts monitoring: counts and 90-day history arrive on their own."""

import time

import pytest

from monitoring.models import SpaceDay
from spaces.models import Space
from spaces.services.instances import enlist_instance
from spaces.services.octopus_spaces import set_enlisted


def wait_for(condition, seconds: float = 90) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.3)
    return False


@pytest.mark.django_db(transaction=True)
def test_enlisting_an_instance_fills_counts_and_backfills_deployments(
    make_sim_instance, start_celery_worker, admin_user
):
    sim = make_sim_instance(spaces=2)
    worker = start_celery_worker()
    instance = enlist_instance(
        name="hooked", base_url=sim.url, api_key=sim.api_key, actor=admin_user
    )
    spaces = Space.objects.filter(instance=instance)
    assert wait_for(lambda: not spaces.filter(project_count__isnull=True).exists()), (
        worker.output()[-3000:]
    )
    assert wait_for(lambda: SpaceDay.objects.filter(space__instance=instance).exists())
    truth = sim.truth()["spaces"]
    for space in spaces:
        assert space.project_count == truth[space.octopus_id]["projects"]


@pytest.mark.django_db(transaction=True)
def test_enlisting_one_more_space_later_backfills_it(
    make_sim_instance, start_celery_worker, admin_user
):
    sim = make_sim_instance(spaces=2)
    instance = enlist_instance(
        name="later", base_url=sim.url, api_key=sim.api_key, actor=admin_user, space_ids=[]
    )
    space = Space.objects.filter(instance=instance).first()
    assert space is not None and space.state == Space.State.NOT_ENLISTED
    start_celery_worker()
    set_enlisted(space, True, actor=admin_user)
    assert wait_for(lambda: SpaceDay.objects.filter(space=space).exists())
