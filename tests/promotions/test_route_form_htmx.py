"""The route form's stage rows answer htmx (django-htmx's ``HX-Request`` header): adding and
removing a row and changing a row's stage send back only the rows, and the lifecycle field of
a row follows its stage (hidden for an environment of this space, a select of that space's
lifecycles, read from its octosim, for a target space of this ODCM, typed for a space of
another ODCM). Without htmx the same posts answer the whole page."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from octosim.testing import SimInstance
from promotions.models import Route
from tests.conftest import make_user

from .test_routes import World, accept_releases, make_world, manager_of

pytestmark = pytest.mark.django_db(transaction=True)

HTMX = {"HX-Request": "true"}


@pytest.fixture
def world(make_sim_instance: Callable[..., SimInstance], tmp_path: Path) -> World:
    return make_world(make_sim_instance, tmp_path)


def base_data(world: World) -> dict[str, str]:
    return {
        "project": world.pipe.project["Id"],
        "stages-TOTAL_FORMS": "2",
        "stages-INITIAL_FORMS": "0",
        "stages-MIN_NUM_FORMS": "0",
        "stages-MAX_NUM_FORMS": "30",
        "stages-0-position": "1",
        "stages-0-stage": "env:Development",
        "stages-1-position": "2",
        "stages-1-stage": f"space:{world.target_peer.pk}",
        "stages-1-lifecycle": "Prod only",
    }


def rows(html: str) -> list[str]:
    return re.findall(r'<tr data-testid="stage-row">(.*?)</tr>', html, re.S)


def lifecycle_cell(row: str) -> str:
    found = re.search(r'<td id="[^"]+" data-testid="stage-lifecycle">(.*?)</td>', row, re.S)
    assert found is not None
    return found.group(1)


def test_stage_rows_are_added_removed_and_refreshed_with_htmx(world: World) -> None:
    browser = Client()
    browser.force_login(manager_of(world.source))
    url = f"/promotions/spaces/{world.source.pk}/routes/new/"
    page = browser.get(url).content.decode()
    # The rows carry their htmx wiring; htmx itself comes from django-htmx's static files.
    assert 'hx-target="#route-stages"' in page and 'hx-trigger="change"' in page
    assert 'hx-select="#stages-0-lifecycle-cell"' in page  # a stage change: its row's cell
    assert "django_htmx/htmx-2" in page

    added = browser.post(url, {**base_data(world), "add": "1"}, headers=HTMX)
    html = added.content.decode()
    assert added.status_code == 200
    assert "<html" not in html and 'id="route-stages"' in html  # only the rows
    assert len(rows(html)) == 3
    assert 'name="stages-2-position" value="3"' in html
    assert 'name="stages-TOTAL_FORMS" value="3"' in html
    # What was chosen stays chosen, and nothing is checked or saved yet.
    assert 'value="env:Development" selected' in html
    assert "errorlist" not in html and "field-error" not in html
    assert not Route.objects.exists()

    # The lifecycle follows the stage: hidden for an environment, the target's lifecycles.
    first, second, third = rows(html)
    assert 'type="hidden" name="stages-0-lifecycle"' in lifecycle_cell(first)
    cell = lifecycle_cell(second)
    assert '<select name="stages-1-lifecycle"' in cell
    assert '<option value="Prod only" selected>Prod only</option>' in cell
    assert 'type="text" name="stages-2-lifecycle"' in lifecycle_cell(third)  # nothing chosen

    # A row's stage changes to the target space: its lifecycle becomes that space's list.
    changed = {
        **base_data(world),
        "stages-TOTAL_FORMS": "3",
        "stages-2-position": "3",
        "stages-2-stage": f"space:{world.far.pk}",
        "refresh": "1",
    }
    changed["stages-0-stage"] = f"space:{world.target_peer.pk}"
    changed["stages-1-stage"] = "env:Test"  # was the target space, with "Prod only"
    html = browser.post(url, changed, headers=HTMX).content.decode()
    first, second, third = rows(html)
    assert '<select name="stages-0-lifecycle"' in lifecycle_cell(first)
    # An environment has no lifecycle: the one typed for the space before is dropped.
    assert 'type="hidden" name="stages-1-lifecycle"' in lifecycle_cell(second)
    assert "Prod only" not in lifecycle_cell(second)
    assert "Prod only" in lifecycle_cell(first)
    # A space of another ODCM: its lifecycles are not known here, the name is typed.
    assert 'type="text" name="stages-2-lifecycle"' in lifecycle_cell(third)

    # Remove the first row: the others move up, keeping their values.
    html = browser.post(url, {**base_data(world), "remove": "0"}, headers=HTMX).content.decode()
    assert len(rows(html)) == 1
    assert 'name="stages-TOTAL_FORMS" value="1"' in html
    assert f'value="space:{world.target_peer.pk}" selected' in html
    assert 'name="stages-0-position" value="2"' in html

    # Without htmx the same post answers the whole page (the form works without JavaScript).
    whole = browser.post(url, {**base_data(world), "remove": "0"}).content.decode()
    assert "<html" in whole and 'data-testid="route-form"' in whole

    # Saving is unchanged: refused with the reason, then saved once the trust exists.
    refused = browser.post(url, base_data(world), headers=HTMX).content.decode()
    assert "does not accept releases from" in refused and not Route.objects.exists()
    accept_releases(world)
    saved = browser.post(url, base_data(world))
    assert saved.status_code == 302
    route = Route.objects.get()
    assert [(str(s), s.lifecycle) for s in route.stages.all()] == [
        ("Development", ""),
        (world.target_peer.name, "Prod only"),
    ]


def test_the_edit_form_keeps_its_fixed_project_when_rows_change(world: World) -> None:
    accept_releases(world)
    browser = Client()
    browser.force_login(manager_of(world.source))
    browser.post(f"/promotions/spaces/{world.source.pk}/routes/new/", base_data(world))
    route = Route.objects.get()
    edit = f"/promotions/routes/{route.pk}/edit/"
    page = browser.get(edit).content.decode()
    assert len(rows(page)) == 4  # two stages and two blank rows
    data: dict[str, Any] = {**base_data(world), "remove": "0"}
    data.pop("project")  # a disabled select is not posted
    whole = browser.post(edit, data).content.decode()
    assert world.pipe.name in whole and len(rows(whole)) == 1
    browser.post(edit, {k: v for k, v in base_data(world).items() if k != "project"})
    assert [str(s) for s in route.stages.all()] == ["Development", world.target_peer.name]
    # Someone who may not see the space gets no rows either way.
    outsider = Client()
    outsider.force_login(make_user("oscar"))
    assert outsider.post(edit, {**data, "add": "1"}, headers=HTMX).status_code == 404
