"""Creating a space from a blueprint: the registry's create-space form offers the blueprints
one may apply, and the chosen one replaces the standard environments."""

from __future__ import annotations

import pytest
from django.urls import reverse

from managed.models import BlueprintTarget
from managed.services import blueprints, broker
from spaces.models import StandardEnvironment
from tests.conftest import make_user

from .conftest import by_name, document, enlist_sim, space_of

pytestmark = pytest.mark.django_db


def test_a_space_created_from_a_blueprint_gets_it_instead_of_the_standard_environments(
    make_sim_instance, login
):
    pam, oscar = make_user("pam"), make_user("oscar")
    inst = enlist_sim(make_sim_instance(spaces=2), owners=[pam])
    other = enlist_sim(make_sim_instance(spaces=1, seed=77), owners=[oscar])
    StandardEnvironment.objects.create(name="Legacy QA", position=0)
    bp = blueprints.create_blueprint("DC", document(), management_space=space_of(inst))
    key = f"blueprint:{bp.pk}"

    client = login(pam)
    form = client.get(reverse("spaces:space-create", args=[inst.pk])).content.decode()
    assert "Blueprint DC (r1)" in form and key in form
    answer = client.post(
        reverse("spaces:space-create", args=[inst.pk]),
        {"name": "Team Blue", "stamp_environments": "on", "setup": key},
    )
    assert answer.status_code == 302
    space = inst.spaces.get(name="Team Blue")
    target = BlueprintTarget.objects.get(blueprint=bp, space=space)
    assert target.status == "queued" and target.target_revision == 1
    # The blueprint replaced the standard environments: none was stamped.
    assert "Legacy QA" not in by_name(inst, space.octopus_id, "environments")
    assert broker.apply_target(str(target.pk)) == "applied"
    envs = by_name(inst, space.octopus_id, "environments")
    assert {"Development", "Test", "Staging DC", "Production"} <= set(envs)
    assert "Legacy QA" not in envs and "DC Standard" in by_name(
        inst, space.octopus_id, "lifecycles"
    )

    # Someone who cannot edit the blueprint is not offered it, in the form or the API.
    outsider = login(oscar)
    form = outsider.get(reverse("spaces:space-create", args=[other.pk])).content.decode()
    assert key not in form
    api = outsider.post(
        "/api/v1/spaces/",
        {"instance": str(other.pk), "name": "Sneaky", "setup": key},
        content_type="application/json",
    )
    assert api.status_code == 400 and "setup" in api.content.decode()
    assert not other.spaces.filter(name="Sneaky").exists()
    # The form has no such field for them: a forged value is ignored, the space is blank.
    outsider.post(reverse("spaces:space-create", args=[other.pk]), {"name": "Plain", "setup": key})
    assert not BlueprintTarget.objects.filter(space__name="Plain").exists()
    assert bp.targets.count() == 1


def test_without_a_blueprint_the_standard_environments_are_still_stamped(make_sim_instance, login):
    pam = make_user("pam")
    inst = enlist_sim(make_sim_instance(spaces=1), owners=[pam])
    StandardEnvironment.objects.create(name="Legacy QA", position=0)
    client = login(pam)
    form = client.get(reverse("spaces:space-create", args=[inst.pk])).content.decode()
    assert "Set up from" not in form  # no blueprint to offer: the form is as before
    client.post(
        reverse("spaces:space-create", args=[inst.pk]),
        {"name": "Team Green", "stamp_environments": "on"},
    )
    space = inst.spaces.get(name="Team Green")
    assert "Legacy QA" in by_name(inst, space.octopus_id, "environments")
    assert not BlueprintTarget.objects.exists()
