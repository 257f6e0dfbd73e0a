"""Enlisting many instances from a CSV or YAML file: a result per row, nothing saved for a
row that fails, the others enlisted through the one enlist service."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from audit.models import AuditEntry
from octosim.testing import SimInstance
from spaces.models import Instance
from spaces.services import bulk_enlist

pytestmark = pytest.mark.django_db
URL = "/spaces/instances/enlist/file/"


def _post(client: Client, name: str, text: str) -> Any:
    return client.post(URL, {"file": SimpleUploadedFile(name, text.encode())})


def test_csv_enlists_good_rows_and_reports_each_failed_row_saving_nothing_for_it(
    login: Callable[[Any], Client],
    admin_user: Any,
    make_sim_instance: Callable[..., SimInstance],
) -> None:
    good, other = make_sim_instance(), make_sim_instance()
    text = (
        "url,api_key,name,region,tags\n"
        f"{good.url},{good.api_key},good-one,emea,prod;emea\n"
        f"{other.url},API-WRONGWRONGWRONGWRONGWRONG00,bad-key,apac,prod\n"
        f"{other.url},,no-key,apac,\n"
        "\n"
        f"{other.url},{other.api_key},,amer,\n"
    )
    response = _post(login(admin_user), "fleet.csv", text)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count('data-testid="enlist-result" data-ok="yes"') == 2
    assert html.count('data-testid="enlist-result" data-ok="no"') == 2
    assert "No API key." in html
    assert "API-WRONG" not in html and good.api_key not in html  # keys never echoed
    enlisted = Instance.objects.get(name="good-one")
    assert enlisted.region == "emea"
    assert sorted(enlisted.tags.values_list("name", flat=True)) == ["emea", "prod"]
    assert enlisted.spaces.count() == 3
    assert not Instance.objects.filter(name__in=["bad-key", "no-key"]).exists()
    assert Instance.objects.filter(base_url=other.url, region="amer").exists()  # named by host
    assert AuditEntry.objects.filter(action="instance.enlist").count() == 2


def test_yaml_list_enlists_and_an_already_enlisted_server_is_refused(
    login: Callable[[Any], Client], admin_user: Any, sim_instance: SimInstance
) -> None:
    text = (
        f"- url: {sim_instance.url}\n  api_key: {sim_instance.api_key}\n  name: y1\n"
        "  tags: [prod, apac]\n"
        f"- url: {sim_instance.url}\n  api_key: {sim_instance.api_key}\n  name: y2\n"
    )
    html = _post(login(admin_user), "fleet.yaml", text).content.decode()
    assert html.count('data-ok="yes"') == 1 and html.count('data-ok="no"') == 1
    assert list(Instance.objects.values_list("name", flat=True)) == ["y1"]


@pytest.mark.parametrize(
    ("name", "text", "says"),
    [
        ("a.csv", "host,key\nx,y\n", "must name its columns"),
        ("a.yaml", "- url: [unclosed\n", "cannot be read"),
        ("a.yaml", "url: x\n", "must be a list"),
        ("a.csv", "url,api_key\n", "lists no instances"),
    ],
)
def test_an_unreadable_file_is_a_clear_400_and_nothing_is_tried(
    login: Callable[[Any], Client], admin_user: Any, name: str, text: str, says: str
) -> None:
    response = _post(login(admin_user), name, text)
    assert response.status_code == 400
    assert says in response.content.decode()
    assert not Instance.objects.exists()


def test_too_many_rows_are_refused(admin_user: Any) -> None:
    text = "url,api_key\n" + "".join(f"http://h{n},k\n" for n in range(bulk_enlist.MAX_ROWS + 1))
    with pytest.raises(bulk_enlist.FileError, match="at most"):
        bulk_enlist.parse(text.encode(), "a.csv")


def test_only_administrators_enlist_from_a_file(
    login: Callable[[Any], Client], space_owner: Any
) -> None:
    assert login(space_owner).get(URL).status_code == 403
