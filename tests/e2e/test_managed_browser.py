"""A space manager walks one blueprint and one template project from creation to applied,
through the pages only, with a real Celery worker and octosim over HTTP."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from managed.models import Blueprint, Downstream, TemplateProject
from tests.conftest import make_user
from tests.e2e.test_sharing_browser import sign_in
from tests.managed.conftest import by_name, enlist_sim, space_of
from tests.managed.test_templates import build_template

DOCUMENT = {
    "environments": [
        {"name": "Development"},
        {"name": "Production", "use_guided_failure": True},
    ],
    "lifecycles": [
        {
            "name": "Browser Standard",
            "phases": [
                {"name": "Dev", "automatic": ["Development"]},
                {"name": "Prod", "optional": ["Production"]},
            ],
        }
    ],
    "project_groups": [{"name": "Platform"}],
}


def _shows(page: Any, text: str, where: str = "main", tries: int = 120) -> bool:
    """Reload until ``text`` is on the page: the worker writes the status, not the click."""
    for _ in range(tries):
        page.reload()
        if text in page.inner_text(where):
            return True
        page.wait_for_timeout(500)
    return False


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_a_blueprint_and_a_template_project_go_from_creation_to_applied(
    live_server: Any, page: Any, make_sim_instance: Callable[..., Any], start_celery_worker: Any
) -> None:
    start_celery_worker(concurrency=1)
    pam = make_user("pam")
    sim = make_sim_instance("browser-mgmt", spaces=2, seed=151)
    inst = enlist_sim(sim, owners=[pam])
    management, managed = space_of(inst), space_of(inst, "Spaces-2")
    build_template(inst)  # the project exists in Octopus; ODCM is told it is a template
    base = live_server.url

    sign_in(page, base, "pam")
    page.click("nav >> text=Managed")

    # Blueprint: create, assign to the managed space, apply, see it applied.
    page.click("summary:has-text('New blueprint')")
    form = "[data-testid=new-blueprint]"
    page.fill(f"{form} #id_name", "Browser blueprint")
    page.select_option(f"{form} #id_management_space", str(management.pk))
    page.fill(f"{form} #id_document", json.dumps(DOCUMENT))
    page.click("button:has-text('Create blueprint')")
    page.wait_for_selector("text=Blueprint Browser blueprint created.")
    assert "Not assigned to any space yet." in page.inner_text("[data-testid=targets]")
    page.select_option("[data-testid=assign] select[name=spaces]", [str(managed.pk)])
    page.click("[data-testid=assign] button:has-text('Assign')")
    page.wait_for_selector("text=Assigned to 1 space(s).")
    with page.expect_navigation():
        page.click("[data-testid=apply]")
    assert _shows(page, "Applied", "[data-testid=target] [data-testid=status]")
    row = page.inner_text("[data-testid=target]")
    assert managed.name in row and "r1" in row
    bp = Blueprint.objects.get(name="Browser blueprint")
    target = bp.targets.get()
    assert target.status == "applied" and target.applied_revision == 1
    production = by_name(inst, "Spaces-2", "environments")["Production"]
    assert production["UseGuidedFailure"] is True
    assert "Browser Standard" in by_name(inst, "Spaces-2", "lifecycles")
    assert "Platform" in by_name(inst, "Spaces-2", "projectgroups")
    assert "Browser Standard" not in by_name(inst, "Spaces-1", "lifecycles")

    # Plan again: the space already matches, so nothing to create or change.
    with page.expect_navigation():
        page.click("[data-testid=plan]")
    assert _shows(page, "0 to create, 0 to change", "[data-testid=targets]")

    # Template project: mark, add the managed space with a name override, push, in sync.
    page.click("a:has-text('Managed spaces')")
    page.click("a:has-text('Template projects')")
    mark = "[data-testid=mark]"
    page.select_option(f"{mark} #id_space", str(management.pk))
    page.fill(f"{mark} #id_project_name", "Web App")
    page.click("button:has-text('Mark as template')")
    page.wait_for_selector("text=Web App is a template (revision 1).")
    add = "[data-testid=add-downstream]"
    page.select_option(f"{add} #id_space", str(managed.pk))
    page.fill(f"{add} #id_name", "Web App (managed)")
    page.select_option(f"{add} #id_mode", "automatic")
    page.click(f"{add} button:has-text('Add space')")
    page.wait_for_selector("[data-testid=downstream]")
    with page.expect_navigation():
        page.click("[data-testid=push]")
    assert _shows(page, "In sync", "[data-testid=downstream] [data-testid=status]")
    template = TemplateProject.objects.get(name="Web App")
    downstream = Downstream.objects.get(template=template)
    assert downstream.applied_revision == 1 and downstream.space_id == managed.pk
    assert "as “Web App (managed)”" in page.inner_text("[data-testid=downstream]")
    projects = by_name(inst, "Spaces-2", "projects")
    assert "Web App (managed)" in projects and "Web App" not in projects
    runbooks = {r["Name"] for r in by_name(inst, "Spaces-2", "runbooks").values()}
    assert {"Restart", "Backup"} <= runbooks
