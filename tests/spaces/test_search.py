"""Finding a space: the switcher's type-ahead and the search page."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from sharing.models import SharedItem
from spaces.models import Project, Space
from tests.spaces.conftest import make_rows

pytestmark = pytest.mark.django_db


def test_switcher_type_ahead_names_each_space_with_its_instance(
    login: Callable[[Any], Client], admin_user: Any
) -> None:
    make_rows(4, instances=2, prefix="north")
    Space.objects.filter(name="north space 0-1").update(name="Payments")
    Space.objects.filter(name="north space 1-1").update(name="Payments")
    html = login(admin_user).get("/spaces/switcher/results/?q=pay").content.decode()
    assert html.count('data-testid="switcher-match"') == 2
    assert "Payments (north-0)" in html and "Payments (north-1)" in html


def test_switcher_type_ahead_shows_only_visible_spaces_and_says_when_none_match(
    login: Callable[[Any], Client], outsider: Any
) -> None:
    make_rows(3)
    html = login(outsider).get("/spaces/switcher/results/?q=bulk").content.decode()
    assert 'data-testid="switcher-match"' not in html
    assert "No space or project matches" in html


def test_type_ahead_query_count_does_not_grow_with_the_fleet(
    login: Callable[[Any], Client], admin_user: Any
) -> None:
    web = login(admin_user)
    make_rows(10, instances=2, prefix="a")
    web.get("/spaces/switcher/results/?q=space")
    with CaptureQueriesContext(connection) as small:
        web.get("/spaces/switcher/results/?q=space")
    make_rows(300, instances=20, prefix="b")
    with CaptureQueriesContext(connection) as large:
        web.get("/spaces/switcher/results/?q=space")
    assert len(large) == len(small)


def test_search_page_finds_spaces_instances_and_shared_items(
    login: Callable[[Any], Client], admin_user: Any
) -> None:
    spaces = make_rows(2, prefix="zeta")
    SharedItem.objects.create(kind=SharedItem.Kind.choices[0][0], publisher=spaces[0],
                              name="zeta common variables")  # fmt: skip
    html = login(admin_user).get("/spaces/search/?q=zeta").content.decode()
    assert "zeta space 0-1 (zeta-0)" in html
    assert 'href="/spaces/instances/' in html
    assert "zeta common variables" in html and "Shared items" in html
    assert "4 results" in html


def test_search_with_nothing_typed_lists_nothing(
    login: Callable[[Any], Client], admin_user: Any
) -> None:
    make_rows(2)
    html = login(admin_user).get("/spaces/search/?q=%00").content.decode()
    assert 'data-testid="search-count"' not in html


def add_projects(space: Space, *names: str) -> None:
    Project.objects.bulk_create(
        Project(space=space, octopus_id=f"Projects-{n}", name=name,
                slug=name.lower().replace(" ", "-"))
        for n, name in enumerate(names, start=1)
    )  # fmt: skip


def test_search_finds_a_project_by_partial_name_whatever_the_case(
    login: Callable[[Any], Client], admin_user: Any
) -> None:
    north, south = make_rows(2, instances=2, prefix="octo")
    add_projects(north, "Checkout Service", "Ledger")
    add_projects(south, "checkout-web", "Billing")
    html = login(admin_user).get("/spaces/search/?q=ECKOU").content.decode()
    assert html.count('data-testid="search-project"') == 2
    assert "Checkout Service — octo space 0-1 (octo-0)" in html
    assert "checkout-web — octo space 1-1 (octo-1)" in html
    assert f'href="/spaces/{north.pk}/"' in html
    # "Open in Octopus": the project's page in Octopus's web portal, by slug.
    assert 'href="http://127.0.0.1:9/octo0/app#/Spaces-1/projects/checkout-service"' in html
    assert "Ledger" not in html and "Billing" not in html
    assert "2 results" in html


def test_search_and_switcher_hide_projects_of_spaces_the_user_cannot_see(
    login: Callable[[Any], Client], space_owner: Any, outsider: Any
) -> None:
    mine, theirs = make_rows(2, instances=2, prefix="octo")
    mine.instance.owners.add(space_owner)
    add_projects(mine, "Payments API")
    add_projects(theirs, "Payments Worker")
    for user, expected in ((space_owner, ["Payments API"]), (outsider, [])):
        web = login(user)
        html = web.get("/spaces/search/?q=payments").content.decode()
        assert html.count('data-testid="search-project"') == len(expected)
        assert "Payments Worker" not in html
        menu = web.get("/spaces/switcher/results/?q=payments").content.decode()
        assert menu.count('data-testid="switcher-project"') == len(expected)
        assert "Payments Worker" not in menu
        for name in expected:
            assert name in html and name in menu


def test_switcher_offers_a_few_matching_projects_after_the_spaces(
    login: Callable[[Any], Client], admin_user: Any
) -> None:
    (space,) = make_rows(1, prefix="orbit")
    Space.objects.filter(pk=space.pk).update(name="Orbit Platform")
    add_projects(space, *(f"Orbit job {n}" for n in range(8)), "Unrelated")
    html = login(admin_user).get("/spaces/switcher/results/?q=orbit").content.decode()
    assert html.count('data-testid="switcher-match"') == 1
    assert html.count('data-testid="switcher-project"') == 5
    assert html.index('data-testid="switcher-match"') < html.index('data-testid="switcher-project"')
    assert "Orbit job 0 <small" in html and "— Orbit Platform (orbit-0)" in html
    assert "No space or project matches" not in html


def test_a_project_name_that_starts_with_the_text_comes_first(
    login: Callable[[Any], Client], admin_user: Any
) -> None:
    (space,) = make_rows(1, prefix="octo")
    add_projects(space, "Acme Deploy", "Deploy Tools", "Zed deploy")
    html = login(admin_user).get("/spaces/search/?q=deploy").content.decode()
    order = [html.index(name) for name in ("Deploy Tools", "Acme Deploy", "Zed deploy")]
    assert order == sorted(order)


def test_search_query_count_does_not_grow_with_the_number_of_projects(
    login: Callable[[Any], Client], admin_user: Any
) -> None:
    web = login(admin_user)
    spaces = make_rows(4, instances=2, prefix="a")
    add_projects(spaces[0], "alpha one")
    web.get("/spaces/search/?q=alpha")
    with CaptureQueriesContext(connection) as small:
        web.get("/spaces/search/?q=alpha")
    for space in spaces:
        Project.objects.filter(space=space).delete()
        add_projects(space, *(f"alpha {n}" for n in range(30)))
    with CaptureQueriesContext(connection) as large:
        html = web.get("/spaces/search/?q=alpha").content.decode()
    assert html.count('data-testid="search-project"') == 20
    assert len(large) == len(small)


def test_api_lists_the_spaces_holding_a_project_by_partial_name(
    api_client: Any, token_for: Callable[..., str], space_owner: Any
) -> None:
    mine, other, theirs = make_rows(3, instances=2, prefix="octo")
    assert mine.instance_id == other.instance_id != theirs.instance_id
    mine.instance.owners.add(space_owner)
    add_projects(mine, "Fraud Scoring")
    add_projects(other, "Reports")
    add_projects(theirs, "fraud-rules")
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(space_owner)}")
    answer = api_client.get("/api/v1/spaces/", {"project": "FRAUD"})
    assert answer.status_code == 200
    assert [s["id"] for s in answer.json()["results"]] == [str(mine.pk)]
    bad = api_client.get("/api/v1/spaces/", {"project": "a\x00b"})
    assert bad.status_code == 400 and "project" in bad.json()["errors"]


def test_project_names_have_a_trigram_index_that_the_search_can_use() -> None:
    assert connection.vendor == "postgresql"  # the tests run on PostgreSQL
    query = Project.objects.filter(name__icontains="ledg").values("pk")
    sql, params = query.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # an empty table is read whole else
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "project_name_trgm_idx" in plan
