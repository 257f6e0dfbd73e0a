"""Instance-baseline pages and API: administrators only, secrets never shown, audited."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from audit.models import AuditEntry
from managed.models import BaselineTarget, InstanceBaseline
from managed.services import baseline_broker
from managed.services import baselines as baselines_service

from .conftest import enlist_sim
from .test_baseline import BASELINE, HEADER_SECRET, OKTA_SECRET, SMTP_SECRET

pytestmark = pytest.mark.django_db
API = "/api/v1/managed"


def _post(client: Client, url: str, body: Any) -> Any:
    return client.post(url, json.dumps(body), content_type="application/json")


def test_an_administrator_creates_assigns_plans_and_applies_a_baseline_from_the_pages(
    make_sim_instance, admin_user, space_owner, login
):
    inst = enlist_sim(make_sim_instance(spaces=1))
    client = login(admin_user)
    assert b"Instance baselines" in client.get("/managed/").content
    created = client.post(
        "/managed/baselines/",
        {"name": "DC", "on_drift": "report", "document": json.dumps(BASELINE)},
    )
    assert created.status_code == 302, created.content[:2000]
    bl = InstanceBaseline.objects.get()
    assigned = client.post(f"/managed/baselines/{bl.pk}/assign/", {"instances": [str(inst.pk)]})
    assert assigned.status_code == 302
    assert client.post(f"/managed/baselines/{bl.pk}/apply/").status_code == 302
    target = BaselineTarget.objects.get(baseline=bl)
    assert target.status == "queued"
    assert baseline_broker.apply_target(str(target.pk)) == "applied"
    detail = client.get(f"/managed/baselines/{bl.pk}/").content.decode()
    assert "Applied" in detail and inst.name in detail and "1 to create" in detail
    for secret in (SMTP_SECRET, HEADER_SECRET, OKTA_SECRET):
        assert secret not in detail
    assert "password_set" in detail
    # the document shown (secrets left out) saves as "nothing changed", secrets kept
    shown = json.loads(json.dumps(bl.revisions.get().content))
    same = client.post(f"/managed/baselines/{bl.pk}/", {"document": json.dumps(shown)})
    assert same.status_code == 302 and InstanceBaseline.objects.get().latest_revision == 1
    bad = client.post(
        f"/managed/baselines/{bl.pk}/", {"document": '{"smtp": {"host": "h", "port": 0}}'}
    )
    assert bad.status_code == 200 and "port must be" in bad.content.decode()
    assert InstanceBaseline.objects.get().latest_revision == 1
    listing = client.get("/managed/baselines/").content.decode()
    assert "DC" in listing
    other = login(space_owner)
    assert other.get("/managed/baselines/").status_code == 404
    assert other.get(f"/managed/baselines/{bl.pk}/").status_code == 404
    assert other.post(f"/managed/baselines/{bl.pk}/apply/").status_code == 404
    assert b"Instance baselines" not in other.get("/managed/").content


def test_the_api_creates_revises_assigns_and_applies_for_administrators_only(
    make_sim_instance, admin_user, space_owner, login
):
    inst = enlist_sim(make_sim_instance(spaces=1), region="eu")
    admin = login(admin_user)
    made = _post(admin, f"{API}/baselines/", {"name": "DC", "document": BASELINE})
    assert made.status_code == 201, made.content
    body = made.json()
    ident = body["id"]
    assert "document" not in body and body["latest_revision"] == 1
    rules = _post(admin, f"{API}/baselines/{ident}/rules/", {"regions": ["eu"]})
    assert rules.json() == {"queued": 1}
    assert _post(admin, f"{API}/baselines/{ident}/apply/", {}).status_code == 202
    target = BaselineTarget.objects.get()
    assert target.via == "region" and target.instance_id == inst.pk
    assert baseline_broker.apply_target(str(target.pk)) == "applied"
    rows = admin.get(f"{API}/baseline-targets/?baseline={ident}").json()["results"]
    assert [r["status"] for r in rows] == ["applied"]
    revs = admin.get(f"{API}/baselines/{ident}/revisions/").content.decode()
    for secret in (SMTP_SECRET, HEADER_SECRET, OKTA_SECRET):
        assert secret not in revs
    patched = admin.patch(
        f"{API}/baselines/{ident}/",
        json.dumps({"document": {"retention": {"days": 5}}, "on_drift": "reapply"}),
        content_type="application/json",
    )
    assert patched.status_code == 200 and patched.json()["latest_revision"] == 2
    bad = _post(admin, f"{API}/baselines/", {"name": "X", "document": {"smtp": 5}})
    assert bad.status_code == 400 and "smtp" in bad.content.decode()
    assert _post(admin, f"{API}/baselines/{ident}/check/", {}).json() == {"queued": 1}
    other = login(space_owner)
    assert other.get(f"{API}/baselines/").json()["results"] == []
    assert other.get(f"{API}/baselines/{ident}/").status_code == 404
    assert other.get(f"{API}/baseline-targets/").json()["results"] == []
    refused = _post(other, f"{API}/baselines/", {"name": "Y", "document": {}})
    assert refused.status_code == 403
    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {"managed.baseline.create", "managed.baseline.rules", "managed.baseline.apply"} <= (
        actions
    )
    assert "managed.baseline.revise" in actions and "managed.baseline.applied" in actions


def _queries(client: Client, url: str) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        resp = client.get(url)
    assert resp.status_code == 200, (url, resp.content[:300])
    return len(queries)


def test_baseline_lists_cost_the_same_queries_for_one_row_or_many_and_bad_filters_are_400(
    admin_user, login
):
    from spaces.models import Instance, Tag

    def add(n: int) -> None:
        bl = baselines_service.create_baseline(f"B{n}", {"retention": {"days": n}})
        inst = Instance.objects.create(
            name=f"i{n}", slug=f"i{n}", base_url=f"http://127.0.0.1:9/i{n}"
        )
        bl.instance_tags.add(Tag.objects.get_or_create(name=f"t{n}")[0])
        baselines_service.assign(bl, [inst])

    client = login(admin_user)
    lists = [f"{API}/baselines/", f"{API}/baseline-targets/", "/managed/baselines/"]
    add(0)
    before = [_queries(client, url) for url in lists]
    for n in range(1, 8):
        add(n)
    assert [_queries(client, url) for url in lists] == before
    bad = client.get(f"{API}/baseline-targets/?status=sleeping")
    assert bad.status_code == 400 and "status" in bad.content.decode()
