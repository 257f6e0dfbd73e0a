"""The front end as the server renders it: the content security policy, one form-field
template, one status colour scheme, the navigation, sorting links and the favicon."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.staticfiles import finders
from django.test import Client
from django.urls import reverse

from identity.models import User
from spaces.models import Instance

from .pages import build_site, inspect, main_pages

pytestmark = pytest.mark.django_db


@pytest.fixture
def site(admin_user: User) -> dict[str, Any]:
    return build_site(admin_user)


@pytest.fixture
def admin_client(login: Any, admin_user: User) -> Client:
    return login(admin_user)


def _policy(response: Any) -> dict[str, list[str]]:
    header = response.headers.get("Content-Security-Policy", "")
    parts = [part.split() for part in header.split(";") if part.strip()]
    return {words[0]: words[1:] for words in parts}


def test_every_page_has_a_strict_content_security_policy_and_no_inline_code(
    admin_client: Client, admin_user: User, site: dict[str, Any]
) -> None:
    pages = main_pages(site, admin_user)
    anonymous = [reverse("account_login"), reverse("account_reset_password"), "/api/docs/"]
    for url, client in [(u, admin_client) for u in pages] + [(u, Client()) for u in anonymous]:
        response = client.get(url)
        assert response.status_code in (200, 404), url
        policy = _policy(response)
        assert policy.get("script-src") == ["'self'"], url
        assert policy.get("style-src") == ["'self'"], url
        assert policy.get("frame-ancestors") == ["'none'"], url
        assert policy.get("object-src") == ["'none'"], url
        page = inspect(response.content)
        assert page.inline_scripts == 0, url
        assert page.style_blocks == 0, url
        assert page.style_attributes == [], url
        assert page.event_handlers == [], url


def test_the_api_documentation_loads_its_start_up_script_from_a_file(admin_client: Client) -> None:
    html = admin_client.get("/api/docs/").content.decode()
    assert 'src="/api/docs/?script="' in html
    script = admin_client.get("/api/docs/?script=")
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert b"SwaggerUIBundle" in script.content and b"validatorUrl" in script.content


def test_every_aria_describedby_names_an_element_of_the_page(
    admin_client: Client, admin_user: User, site: dict[str, Any]
) -> None:
    """Help texts and errors carry the ids that Django writes into the widgets, on forms shown
    fresh and with errors."""
    with_errors = [
        (reverse("spaces:enlist"), {"enlist_all": "on"}),
        (reverse("spaces:instance-edit", args=[site["instance"].pk]), {"name": ""}),
        (reverse("identity:groups"), {"name": ""}),
        (reverse("identity:tokens"), {"name": "", "expires_days": "0"}),
        (reverse("sharing:trusts"), {"tag": "x" * 80}),
        (reverse("account_change_password"), {"oldpassword": "wrong"}),
    ]
    responses = [(url, admin_client.get(url)) for url in main_pages(site, admin_user)]
    responses += [(url, admin_client.post(url, data)) for url, data in with_errors]
    described = 0
    for url, response in responses:
        page = inspect(response.content)
        missing = [ref for ref in page.described_by if ref not in page.ids]
        assert missing == [], url
        described += len(page.described_by)
    errors = inspect(admin_client.post(reverse("spaces:enlist"), {"region": "x"}).content)
    assert "id_name_error" in errors.described_by and "id_name_error" in errors.ids
    assert "id_base_url_helptext" in errors.described_by and "id_base_url_helptext" in errors.ids
    assert described > 20


def test_no_page_puts_a_button_or_a_field_inside_a_link(
    admin_client: Client, admin_user: User, site: dict[str, Any]
) -> None:
    for url in main_pages(site, admin_user):
        assert inspect(admin_client.get(url).content).nested_in_links == [], url


def test_an_instance_has_the_same_status_colour_on_every_page(
    admin_client: Client, site: dict[str, Any], settings: Any
) -> None:
    settings.ODCM_DASHBOARD_CACHE_SECONDS = 0
    instance = site["instance"]  # in maintenance
    urls = [
        reverse("home"),
        reverse("spaces:instances"),
        reverse("spaces:instance", args=[instance.pk]),
        reverse("spaces:space", args=[site["spaces"][0].pk]),
        reverse("monitoring:instance", args=[instance.slug]),
    ]
    for url in urls:  # the monitoring URL redirects to the one instance page
        classes = inspect(admin_client.get(url, follow=True).content).classes
        assert "status-dot" in classes, url
        assert "bg-info" in classes, url
        assert not [c for c in classes if c.startswith("status-") and c != "status-dot"], url
    Instance.objects.filter(pk=instance.pk).update(status=Instance.Status.OFFLINE)
    for url in urls:
        assert "bg-danger" in inspect(admin_client.get(url, follow=True).content).classes, url


def test_dashboard_column_headers_link_to_the_dashboard_sorted_by_that_column(
    admin_client: Client, site: dict[str, Any]
) -> None:
    """Issue 18, bug 1: the headers linked to "??sort=…", which sorted nothing."""
    page = inspect(admin_client.get(reverse("home") + "?tf=7d&part=table").content)
    assert set(page.sort_links) >= {"Instance", "Space", "Projects", "Failed", "Success"}
    for label, href in page.sort_links.items():
        assert href.startswith("?sort=") or "&sort=" in href, label
        assert not href.startswith("??"), label
        assert "part=" not in href, label
    by_projects = page.sort_links["Projects"]
    assert "sort=-projects" in by_projects and "tf=7d" in by_projects
    rows = admin_client.get(reverse("home") + by_projects).content.decode()
    rows = rows[rows.index('data-testid="dashboard-table"') :]  # past the fleet overview
    assert rows.index("Space 2") < rows.index("Space 1")
    # The current sort is marked, and its header reverses it.
    sorted_page = admin_client.get(reverse("home") + by_projects).content.decode()
    assert 'aria-sort="descending"' in sorted_page
    assert "sort=projects" in inspect(sorted_page).sort_links["Projects"]


def test_dashboard_page_links_carry_one_question_mark(admin_client: Client, settings: Any) -> None:
    from tests.spaces.conftest import make_rows

    settings.ODCM_DASHBOARD_PAGE_SIZE = 10
    make_rows(25)
    html = admin_client.get(reverse("home")).content.decode()
    assert 'href="?page=2' in html and "??" not in html


def test_only_instances_is_highlighted_in_the_navigation_on_an_instance_page(
    admin_client: Client, site: dict[str, Any]
) -> None:
    """Issue 18, bug 8: both "Spaces" and "Instances" were highlighted."""
    instance = site["instance"]
    assert inspect(
        admin_client.get(reverse("spaces:instance", args=[instance.pk])).content
    ).active_nav == ["Instances"]
    assert inspect(admin_client.get(reverse("spaces:instances")).content).active_nav == [
        "Instances"
    ]
    monitoring = reverse("monitoring:instance", args=[instance.slug])
    assert inspect(admin_client.get(monitoring, follow=True).content).active_nav == ["Instances"]
    assert inspect(admin_client.get(reverse("audit:list")).content).active_nav == ["Administration"]
    assert inspect(admin_client.get(reverse("spaces:list")).content).active_nav == ["Spaces"]
    assert inspect(admin_client.get(reverse("home")).content).active_nav == ["Dashboard"]


def test_the_favicon_is_served_and_named_by_every_page(
    admin_client: Client, site: dict[str, Any]
) -> None:
    """Issue 18, bug 16: /favicon.ico was a 404 on every page."""
    response = Client().get("/favicon.ico")
    assert response.status_code == 302
    assert response["Location"].endswith("odcm/favicon.ico")
    assert finders.find("odcm/favicon.ico")
    for url in (reverse("home"), reverse("spaces:list"), "/no-such-page/"):
        (icon,) = inspect(admin_client.get(url).content).icons
        assert finders.find(icon.removeprefix("/static/"))
    (icon,) = inspect(Client().get(reverse("account_login")).content).icons


def test_pages_load_htmx_from_django_htmx_and_nothing_from_elsewhere(
    admin_client: Client,
) -> None:
    html = admin_client.get(reverse("home")).content.decode()
    assert '/static/django_htmx/htmx-2.min.js"' in html
    assert finders.find("django_htmx/htmx-2.min.js")
    assert "/static/htmx/" not in html and "https://" not in html


def test_the_dashboard_answers_htmx_with_fragments(
    admin_client: Client, site: dict[str, Any]
) -> None:
    table = admin_client.get(reverse("home") + "?part=table", headers={"HX-Request": "true"})
    assert b"<html" not in table.content and b'data-testid="dashboard-table"' in table.content
    whole = admin_client.get(reverse("home") + "?part=table")
    assert b"<html" in whole.content  # without htmx, the page itself


def test_the_browsable_api_may_use_style_attributes_and_nothing_more(
    admin_client: Client, site: dict[str, Any]
) -> None:
    """DRF's pages lay out with style attributes; scripts stay as strict as everywhere."""
    page = admin_client.get(reverse("api:instance-list"), headers={"Accept": "text/html"})
    policy = _policy(page)
    assert policy["style-src-attr"] == ["'unsafe-inline'"]
    assert policy["script-src"] == ["'self'"] and policy["style-src"] == ["'self'"]
    assert inspect(page.content).inline_scripts == 0
    assert inspect(page.content).style_blocks == 0
    as_json = admin_client.get(reverse("api:instance-list"))
    assert "style-src-attr" not in _policy(as_json)
    assert _policy(admin_client.get(reverse("home"))).keys() == _policy(as_json).keys()
