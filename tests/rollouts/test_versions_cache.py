"""Editing a stage's allowed Octopus Server versions shows at once on the pipeline board and in
monitoring's cached dashboard figures (the dashboard's version table, the spaces report), with
the cache on."""

from __future__ import annotations

import re
from typing import Any

import pytest

from monitoring.models import InstanceMonitor
from rollouts.models import Pipeline
from rollouts.services import pipelines
from spaces.models import Instance, Space

from .test_forms import _management

pytestmark = pytest.mark.django_db


def _mismatches(html: str, version: str) -> str:
    """The dashboard version table's "off its pin" figure for ``version``."""
    row = re.search(rf"<tr><td>{re.escape(version)}</td>.*?</tr>", html, re.S)
    assert row, html
    cells = re.findall(r'<td class="text-end">(.*?)</td>', row.group(0))
    return re.sub(r"<[^>]+>", "", cells[1])


def _stage(allowed: str, inst: Instance) -> dict[str, Any]:
    return {
        "name": "Train",
        **_management("stage", 1),
        "stage-0-name": "prod",
        "stage-0-selector": "instances",
        "stage-0-instances": [str(inst.pk)],
        "stage-0-soak_seconds": "0",
        "stage-0-allowed_versions": allowed,
    }


def test_a_stage_list_edit_shows_at_once_on_the_board_and_the_cached_dashboard(
    settings: Any, login: Any, api_client: Any, token_for: Any, admin_user: Any
) -> None:
    settings.ODCM_DASHBOARD_CACHE_SECONDS = 300
    inst = Instance.objects.create(
        name="prod", slug="prod", base_url="http://127.0.0.1:9/prod", version="2025.1.1"
    )
    Space.objects.create(instance=inst, octopus_id="Spaces-1", name="prod space", slug="prod")
    InstanceMonitor.objects.create(instance=inst, pinned_version="2025.1.1")
    pipeline = pipelines.save_pipeline(
        "Train",
        [
            {
                "name": "prod",
                "selector": "instances",
                "instances": [inst.pk],
                "allowed_versions": ["2024.4.1"],
            }
        ],
    )
    web = login(admin_user)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(admin_user)}")
    report = "/api/v1/reports/spaces/?tf=7d"

    def flagged() -> bool:
        rows = api_client.get(report).json()["results"]
        assert [r["slug"] for r in rows] == ["prod"]
        return bool(rows[0]["pin_mismatch"])

    # Read (and cached) under the list 2024.4.1: off.
    assert flagged()
    assert _mismatches(web.get("/").content.decode(), "2025.1.1") == "1"

    # The stage now allows what it runs (the pipeline form): the figures follow at once.
    edited = web.post(f"/rollouts/pipelines/{pipeline.pk}/edit/", _stage("2025.1.1", inst))
    assert edited.status_code == 302, edited.content.decode()
    board = web.get(f"/rollouts/pipelines/{pipeline.pk}/").content.decode()
    assert "Octopus 2025.1.1" in board and "2024.4.1" not in board
    assert not flagged()
    assert _mismatches(web.get("/").content.decode(), "2025.1.1") == "0"

    # And back through the API.
    body = {
        "name": "Train",
        "stages": [
            {
                "name": "prod",
                "selector": "instances",
                "instances": [str(inst.pk)],
                "allowed_versions": ["2024.4.1"],
            }
        ],
    }
    put = api_client.put(f"/api/v1/rollouts/pipelines/{pipeline.pk}/", body, format="json")
    assert put.status_code == 200, put.content
    assert Pipeline.objects.get().stages.get().allowed_versions == ["2024.4.1"]
    assert flagged()
    assert _mismatches(web.get("/").content.decode(), "2025.1.1") == "1"
