"""The malformed requests found by the security review (issue 12, item 8): each is refused
with a 4xx and a message, never a server error, and nothing is written."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from sharing.models import Revision, SharedItem

from .conftest import World

pytestmark = pytest.mark.django_db

API = "/api/v1"


def _api(world: World, persona: str = "admin") -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(world.users[persona])
    return client


def _post_json(client: Client, url: str, body: Any) -> Any:
    return client.post(url, json.dumps(body), content_type="application/json")


def _message(response: Any) -> str:
    return response.content.decode()


@pytest.mark.parametrize("field", ["item", "space"])
def test_a_bad_uuid_in_a_subscription_filter_is_a_400_naming_the_field(world, field):
    response = _api(world).get(f"{API}/sharing/subscriptions/", {field: "not-a-uuid"})
    assert response.status_code == 400, _message(response)
    assert field in response.json()["errors"]


@pytest.mark.parametrize("to", ["99999999999999999999", "2147483648", "-1", "²", "x"])
def test_an_out_of_range_diff_revision_is_a_client_error(world, to):
    response = _api(world).get(f"{API}/sharing/items/{world.item.pk}/diff/", {"to": to})
    assert response.status_code in (400, 404), _message(response)


def test_a_revision_whose_content_is_a_list_is_a_400(world):
    response = _post_json(
        _api(world), f"{API}/sharing/items/{world.item.pk}/revisions/", {"content": []}
    )
    assert response.status_code == 400, _message(response)
    assert world.item.revisions.count() == 2


@pytest.mark.parametrize(
    "change",
    [{"Properties": ["a"]}, {"Packages": 5}, {"Parameters": 7}, {"Parameters": {"a": 1}}],
    ids=["list-properties", "integer-packages", "integer-parameters", "object-parameters"],
)
def test_a_step_template_of_the_wrong_shape_is_a_400(world, change):
    template = {"Name": "Odd", "ActionType": "Octopus.Script", **change}
    url = f"{API}/sharing/items/import-step-template/"
    response = _post_json(
        _api(world), url, {"publisher": str(world.space.pk), "template": template}
    )
    assert response.status_code == 400, _message(response)
    response = _post_json(
        _api(world), f"{API}/sharing/items/{world.template.pk}/revisions/", {"content": template}
    )
    assert response.status_code == 400, _message(response)
    assert not SharedItem.objects.filter(name="Odd").exists()


def test_a_body_over_the_upload_limit_is_a_413(world, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    body = {"name": "x" * 20_000}
    response = _post_json(_api(world), f"{API}/tokens/", body)
    assert response.status_code == 413, _message(response)


def test_deeply_nested_json_is_a_400(world):
    body = "[" * 100_000 + "]" * 100_000
    response = _api(world).post(f"{API}/tokens/", body, content_type="application/json")
    assert response.status_code == 400, _message(response)


def test_the_dashboard_with_a_far_future_custom_date_renders(world):
    response = _api(world, "viewer").get("/", {"tf": "custom", "to": "9999-12-31"})
    assert response.status_code == 200


@pytest.mark.parametrize("window", ["abc", "", "1"])
def test_ending_a_maintenance_window_that_is_not_an_id_is_a_404(world, window):
    response = _api(world).post(
        f"/monitoring/instances/{world.instance.slug}/", {"action": "end-window", "window": window}
    )
    assert response.status_code == 404


@pytest.mark.parametrize("pin", ["²", "99999999999999999999", "-1"])
def test_a_pinned_revision_that_is_not_a_number_is_refused_with_a_message(world, pin):
    url = f"/sharing/subscriptions/{world.subscription.pk}/change/"
    response = _api(world).post(url, {"pinned_revision": pin}, follow=True)
    assert response.status_code == 200
    world.subscription.refresh_from_db()
    assert world.subscription.pinned_revision is None
    assert "revision" in response.content.decode().lower()


def test_a_variable_editor_row_count_that_is_not_a_number_changes_nothing(world):
    url = f"/sharing/items/{world.item.pk}/edit/"
    response = _api(world).post(url, {"rows": "abc", "v0-name": "X"})
    assert response.status_code in (200, 400)
    assert world.item.revisions.count() == 2


@pytest.mark.parametrize("to", ["99999999999999999999", "2147483648"])
def test_a_huge_diff_revision_on_the_page_is_a_404(world, to):
    response = _api(world).get(f"/sharing/items/{world.item.pk}/diff/", {"to": to})
    assert response.status_code == 404


def test_a_step_template_file_whose_properties_are_a_list_is_refused_with_a_message(world):
    from django.core.files.uploadedfile import SimpleUploadedFile

    export = {"Name": "Listy", "ActionType": "Octopus.Script", "Properties": ["x"]}
    upload = SimpleUploadedFile("t.json", json.dumps(export).encode(), "application/json")
    response = _api(world).post(
        "/sharing/import/",
        {"which": "st", "publisher": str(world.space.pk), "policy": "push", "file": upload},
    )
    assert response.status_code == 200
    assert "Properties" in response.content.decode()
    assert not SharedItem.objects.filter(name="Listy").exists()


def test_a_revision_out_of_range_is_not_stored(world):
    assert Revision.objects.filter(item=world.item).count() == 2


@pytest.mark.parametrize("path", ["/sharing/trusts/", "/api/v1/tokens/"])
def test_a_form_body_over_the_upload_limit_is_a_413_on_pages_and_the_api(world, settings, path):
    from urllib.parse import urlencode

    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    body = urlencode({"tag": "x" * 20_000})
    response = _api(world).post(path, body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 413, _message(response)
    assert "larger than this server accepts" in _message(response)
