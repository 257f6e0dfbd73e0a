"""octosim's read-only web view: Octopus's /app#/… deep links land on a page, over HTTP."""

from __future__ import annotations

import httpx
import pytest

from octosim.testing import SimInstance

from .conftest import Api


@pytest.fixture
def web(sim_instance: SimInstance) -> httpx.Client:
    # No API key: the view needs no sign-in.
    return httpx.Client(base_url=sim_instance.url, timeout=20, trust_env=False)


def _view(web: httpx.Client, path: str) -> httpx.Response:
    return web.get("/app/view", params={"path": path})


def test_app_is_a_page_with_the_octosim_banner_and_its_own_script(web, sim_instance):
    page = web.get("/app")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "octosim" in page.text and "no sign-in" in page.text
    assert f"<script src='/{sim_instance.slug}/app/octosim.js'></script>" in page.text
    assert "<script>" not in page.text  # no inline script: the hash is read by octosim.js
    script = web.get("/app/octosim.js")
    assert script.status_code == 200 and "location.hash" in script.text
    assert web.get("/app/octosim.css").headers["content-type"].startswith("text/css")


def test_the_space_dashboard_lists_projects_sets_and_templates_with_hash_links(web, api):
    projects = api.get("/api/Spaces-1/projects/all")
    sets = api.get("/api/Spaces-1/libraryvariablesets/all")
    html = _view(web, "/Spaces-1").text
    for project in projects:
        assert f"href='#/Spaces-1/projects/{project['Slug']}'" in html
    for lvs in sets:
        assert f"href='#/Spaces-1/library/variables/{lvs['Id']}'" in html
    # Octopus's other spellings of the dashboard land on the same page.
    assert _view(web, "/Spaces-1/dashboard").text == html
    assert _view(web, "/spaces/Spaces-1").text == html


def test_a_project_is_found_by_slug_or_id_and_sub_pages_show_it(web, api):
    project = api.get("/api/Spaces-1/projects/all")[0]
    by_slug = _view(web, f"/Spaces-1/projects/{project['Slug']}")
    assert by_slug.status_code == 200 and f"<h1>{project['Name']}</h1>" in by_slug.text
    assert _view(web, f"/spaces-1/projects/{project['Id']}/deployments").text == by_slug.text


def test_a_library_variable_set_shows_values_but_never_a_sensitive_one(web, api):
    lvs = api.post(
        "/api/Spaces-1/libraryvariablesets", {"Name": "Web <view>", "ContentType": "Variables"}
    ).json()
    doc = api.get(f"/api/Spaces-1/variables/{lvs['VariableSetId']}")
    doc["Variables"] = [
        {"Name": "Plain", "Value": "shown-value", "Type": "String"},
        {"Name": "Secret", "Value": "never-SHOWN-9912", "Type": "Sensitive", "IsSensitive": True},
    ]
    assert api.put(f"/api/Spaces-1/variables/{lvs['VariableSetId']}", doc).status_code == 200
    html = _view(web, f"/Spaces-1/library/variables/{lvs['Id']}").text
    assert "<h1>Web &lt;view&gt;</h1>" in html  # escaped, never markup
    assert "shown-value" in html and "never-SHOWN-9912" not in html and "********" in html


def test_a_step_template_shows_its_parameters_and_script(web, api):
    template = api.get("/api/Spaces-1/actiontemplates/all")[0]
    html = _view(web, f"/Spaces-1/library/steptemplates/{template['Id']}").text
    assert f"<h1>{template['Name']}</h1>" in html and "<h2>Script</h2>" in html


def test_an_unknown_page_or_space_is_a_404_that_says_so(web):
    assert _view(web, "/Spaces-1/infrastructure/machines").status_code == 404
    missing = _view(web, "/Spaces-99")
    assert missing.status_code == 404 and "No space" in missing.text


def test_the_web_view_is_read_only(web):
    assert web.post("/app/view", params={"path": "/"}).status_code == 405


def test_an_offline_instance_serves_no_web_view_either(web, sim_instance):
    sim_instance.set_faults(error_rate=1.0, error_status=503)
    try:
        assert web.get("/app").status_code == 503
    finally:
        sim_instance.clear_faults()


def test_the_api_still_answers_json_beside_the_view(api: Api):
    assert api.get("/api")["Application"] == "Octopus Deploy"
