"""Cached dashboard and report figures do not outlive a user's access."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from identity import services
from identity.models import Role
from monitoring.services import stamp
from spaces.models import Instance
from tests.monitoring.test_dashboard import build

pytestmark = pytest.mark.django_db


def test_a_revoked_user_stops_seeing_cached_figures_at_once(
    member, token_for, settings, django_capture_on_commit_callbacks
):
    settings.ODCM_DASHBOARD_CACHE_SECONDS = 300
    build(1, 3)
    group = services.create_group(name="Viewers", members=[member])
    with django_capture_on_commit_callbacks(execute=True):
        grant = services.grant(group, Role.VIEWER, instance=Instance.objects.get())
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(member)}")
    assert api.get("/api/v1/reports/spaces/?tf=7d").json()["count"] == 3
    with django_capture_on_commit_callbacks(execute=True):
        services.revoke(grant)
    assert api.get("/api/v1/reports/spaces/?tf=7d").json()["count"] == 0


def test_deactivating_a_user_clears_cached_figures(member, django_capture_on_commit_callbacks):
    before = stamp.data_stamp()
    member.is_active = False
    with django_capture_on_commit_callbacks(execute=True):
        member.save()
    assert stamp.data_stamp() != before


def test_a_sign_in_does_not_clear_cached_figures(member, django_capture_on_commit_callbacks):
    before = stamp.data_stamp()
    with django_capture_on_commit_callbacks(execute=True):
        member.save(update_fields=["last_login"])
    assert stamp.data_stamp() == before
