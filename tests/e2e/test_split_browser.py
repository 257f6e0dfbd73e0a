"""A space manager splits a project out into a new space through the wizard's pages, with a
real Celery worker and octosim over HTTP: pick, plan, run, see it verified."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from managed.models import Split
from tests.conftest import make_user
from tests.e2e.test_managed_browser import _shows
from tests.e2e.test_sharing_browser import sign_in
from tests.managed.conftest import by_name, enlist_sim, space_of
from tests.managed.test_split import build_source


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_a_project_is_split_into_a_new_space_through_the_wizard(
    live_server: Any, page: Any, make_sim_instance: Callable[..., Any], start_celery_worker: Any
) -> None:
    start_celery_worker(concurrency=1)
    pam = make_user("pam")
    sim = make_sim_instance("browser-split", spaces=1, seed=161)
    inst = enlist_sim(sim, owners=[pam])
    build_source(inst)
    source = space_of(inst)
    base = live_server.url

    sign_in(page, base, "pam")
    page.click("nav >> text=Managed")
    page.click("text=Split a space")
    page.select_option("[data-testid=split-source] select[name=source]", str(source.pk))
    page.click("button:has-text('List its projects')")
    form = "[data-testid=split-new]"
    page.check(f"{form} input[value='Web App']")
    page.fill(f"{form} #id_new_space_name", "Web team")
    page.select_option(f"{form} #id_new_space_instance", str(inst.pk))
    page.select_option(f"{form} #id_source_action", "disable")
    page.click("button:has-text('Plan the split')")
    page.wait_for_selector("[data-testid=split-dependencies]")
    deps = page.inner_text("[data-testid=split-dependencies]")
    assert "Split LC" in deps and "will be copied" in deps
    assert "Db.Password" in page.inner_text("[data-testid=split-needs-values]")
    with page.expect_navigation():
        page.click("button:has-text('Run the split')")
    assert _shows(page, "Copied and verified", "[data-testid=split-status]")
    assert "identical (ids aside)" in page.inner_text("[data-testid=split-verification]")
    split = Split.objects.get()
    assert split.target.name.startswith("Web team") and split.source_done == "disabled"
    assert "Web App" in by_name(inst, split.target.octopus_id, "projects")
    assert by_name(inst, "Spaces-1", "projects")["Web App"]["IsDisabled"] is True
