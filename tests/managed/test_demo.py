"""The demo: a management space with a blueprint and a template project on two spaces."""

from __future__ import annotations

import pytest

from managed.models import BaselineTarget, BlueprintTarget, Downstream
from managed.services import baseline_broker, demo, templates

from .conftest import enlist_sim

pytestmark = pytest.mark.django_db


def test_the_demo_sets_up_a_blueprint_and_a_template_on_two_managed_spaces(make_sim_instance):
    enlist_sim(make_sim_instance(spaces=3))
    line = demo.set_up()
    assert "pushed to" in line, line
    assert sorted(BlueprintTarget.objects.values_list("status", flat=True)) == ["applied"] * 2
    rows = list(Downstream.objects.all())
    assert [templates.push_downstream(str(r.pk)) for r in rows] == ["pushed", "pushed"]
    baseline = BaselineTarget.objects.get()
    assert baseline.status == "queued" and baseline.via == "all"
    assert baseline_broker.apply_target(str(baseline.pk)) == "applied"
    assert demo.set_up() == line  # a second run changes nothing
    assert Downstream.objects.count() == 2
    assert BaselineTarget.objects.count() == 1
