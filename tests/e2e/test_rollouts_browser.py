"""The deployment run page refreshes itself while deployments run; a manual intervention is
answered from it."""

from __future__ import annotations

import pytest

from rollouts.models import DeploymentRun
from rollouts.services import orchestration
from tests.conftest import make_user
from tests.e2e.test_sharing_browser import sign_in
from tests.rollouts.test_orchestration import PROJECT, prepare
from tests.sharing.conftest import enlist_sim


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_run_page_follows_the_run_live_and_answers_an_intervention(
    live_server, page, make_sim_instance, start_celery_worker
):
    start_celery_worker(concurrency=1, ODCM_RUNS_POLL_SECONDS="1")
    ada = make_user("ada", admin=True)
    sim = make_sim_instance("browser-orch", spaces=3, seed=77)
    spaces = prepare(enlist_sim(sim))
    sim.set_faults(step_ms=500, interventions=[PROJECT])
    run = orchestration.start_run(
        user=ada,
        project=PROJECT,
        environment="Development",
        waves=[[spaces[0].pk], [s.pk for s in spaces[1:]]],
    )
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    sign_in(page, live_server.url, "ada")
    page.goto(f"{live_server.url}/rollouts/runs/{run.pk}/")
    assert page.inner_text("[data-testid=run-state]") == "Running"
    # No reload from here on: htmx swaps the table in as the worker follows the run.
    page.wait_for_selector("[data-testid=proceed]", timeout=60_000)
    assert "Waiting" in page.inner_text("[data-testid=intervention]")
    for _ in range(3):  # wave 1's space, then wave 2's two
        page.wait_for_selector("[data-testid=proceed]", timeout=60_000)
        with page.expect_navigation():
            page.click("[data-testid=proceed] >> nth=0")
        page.wait_for_selector("text=Answered the manual intervention.")
    page.wait_for_selector("[data-testid=run-state]:has-text('Completed')", timeout=60_000)
    rows = page.locator("[data-testid=run-row]")
    assert rows.count() == 3
    assert [rows.nth(i).get_attribute("data-state") for i in range(3)] == ["success"] * 3
    link = rows.nth(0).locator("a").get_attribute("href")
    assert link.startswith(sim.url) and "/tasks/ServerTasks-" in link
    assert not errors, errors


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_a_run_started_from_the_form_is_followed_on_its_page(
    live_server, page, make_sim_instance, start_celery_worker
):
    start_celery_worker(concurrency=1, ODCM_RUNS_POLL_SECONDS="1")
    make_user("ada", admin=True)
    sim = make_sim_instance("browser-form", spaces=3, seed=78)
    spaces = prepare(enlist_sim(sim))
    bare = enlist_sim(make_sim_instance("browser-bare", spaces=1, seed=79))
    sim.set_faults(step_ms=300)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    sign_in(page, live_server.url, "ada")
    page.goto(f"{live_server.url}/rollouts/runs/")
    page.click("[data-testid=new-run]")
    page.fill("#id_project", PROJECT)
    page.fill("#id_environment", "Development")
    # htmx swaps in the spaces that have the project: chips for the three, none for the bare one.
    page.click("[data-testid=find-spaces]")
    page.wait_for_selector("[data-testid=found-note]")
    assert "3 spaces you may deploy to have a project" in page.inner_text(
        "[data-testid=found-note]"
    )
    chips = page.locator("#run-spaces [data-testid=chip]")
    assert chips.count() == 3
    assert bare.spaces.get().name not in page.inner_text("#run-spaces [data-testid=picker-chips]")
    page.select_option("#id_wave-0-selector", "percent")
    page.fill("#id_wave-0-percent", "34")
    with page.expect_navigation():
        page.click("[data-testid=start-run]")
    assert (
        "/rollouts/runs/" in page.url and page.url.rstrip("/") != f"{live_server.url}/rollouts/runs"
    )
    assert page.inner_text("[data-testid=run-state]") == "Running"
    # No reload: the table follows the worker until every deployment has succeeded.
    page.wait_for_selector("[data-testid=run-state]:has-text('Completed')", timeout=60_000)
    rows = page.locator("[data-testid=run-row]")
    assert rows.count() == 3
    assert [rows.nth(i).get_attribute("data-state") for i in range(3)] == ["success"] * 3
    run = DeploymentRun.objects.get()
    waves = sorted(run.deployments.values_list("wave__position", "space_id"))
    assert [w for w, _ in waves] == [1, 1, 2]
    assert {s for _, s in waves} == {s.pk for s in spaces}
    assert not errors, errors
