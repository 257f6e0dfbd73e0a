"""The Octopus Server version gate of a pipeline: versions must reach the stages in order,
and each stage may allow only some versions (no Octopus needed: the version is what
monitoring writes on the instance)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from odcm.crypto import seal
from rollouts.models import PipelineStage
from rollouts.services import pipelines
from spaces.models import Instance, Tag

pytestmark = pytest.mark.django_db
SEL = PipelineStage.Selector


def _instance(name: str, region: str = "") -> Instance:
    inst = Instance(name=name, slug=name, base_url=f"https://{name}.example", region=region)
    seal(inst, "api_key", "API-XXXXXXXXXXXXXXXXXXXXXXXXXXXX")
    inst.save()
    return inst


def _runs(inst: Instance, version: str) -> None:
    Instance.objects.filter(pk=inst.pk).update(version=version)


def test_a_version_seen_out_of_order_is_flagged() -> None:
    dev, test, prod, loose = (
        _instance("dev"),
        _instance("test", region="EU"),
        _instance("prod"),
        _instance("loose"),
    )
    dev.tags.add(Tag.objects.create(name="dev"))
    pipeline = pipelines.save_pipeline(
        "Servers",
        [
            {"name": "dev", "selector": SEL.TAG, "value": "dev"},
            {"name": "test", "selector": SEL.REGION, "value": "eu"},
            {
                "name": "prod",
                "selector": SEL.INSTANCES,
                "instances": [prod.pk],
                "allowed_versions": ["2024.1.1", "2024.2.1"],
            },
        ],
    )
    t0 = timezone.now()
    for inst in (dev, test, prod, loose):
        _runs(inst, "2024.1.1")
    pipelines.observe_versions(t0)
    # In order: dev, then test, then prod.
    _runs(dev, "2024.2.1")
    pipelines.observe_versions(t0 + timedelta(minutes=1))
    _runs(test, "2024.2.1")
    pipelines.observe_versions(t0 + timedelta(minutes=2))
    _runs(prod, "2024.2.1")
    pipelines.observe_versions(t0 + timedelta(minutes=3))
    assert pipelines.version_report(pipeline)["flagged"] == []

    # Out of order: prod first, then test before dev.
    _runs(prod, "2024.3.0")
    pipelines.observe_versions(t0 + timedelta(minutes=4))
    _runs(test, "2024.3.0")
    pipelines.observe_versions(t0 + timedelta(minutes=5))
    _runs(dev, "2024.3.0")
    _runs(loose, "2024.9.9")  # in no stage: not the pipeline's business (monitoring's pin is)
    pipelines.observe_versions(t0 + timedelta(minutes=6))
    report = pipelines.version_report(pipeline)
    assert report["flagged"] == [
        {"version": "2024.3.0", "stage": "test", "reason": "seen in test before dev"},
        {"version": "2024.3.0", "stage": "prod", "reason": "seen in prod before dev, test"},
    ]
    # prod runs a version its stage does not allow.
    assert report["not_allowed"] == [
        {
            "instance": "prod",
            "version": "2024.3.0",
            "stage": "prod",
            "allowed": ["2024.1.1", "2024.2.1"],
        }
    ]
    # A sighting is recorded once: observing again changes nothing.
    assert pipelines.observe_versions(t0 + timedelta(minutes=7)) == 0
