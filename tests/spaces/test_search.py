"""Finding a space: the switcher's type-ahead and the search page."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from sharing.models import SharedItem
from spaces.models import Space
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
