import pytest

from audit.models import AuditEntry
from audit.services import record, scrub

pytestmark = pytest.mark.django_db


def test_record_writes_who_what_which_when_where(rf, admin_user):
    request = rf.post("/x", REMOTE_ADDR="192.0.2.7")
    request.user = admin_user
    entry = record(
        "thing.update",
        request=request,
        obj=admin_user,
        before={"name": "a"},
        after={"name": "b", "api_key": "API-XYZ"},
    )
    entry.refresh_from_db()
    assert entry.actor == admin_user and entry.actor_label == "ada"
    assert entry.ip_address == "192.0.2.7"
    assert entry.object_type == "identity.user" and entry.object_id == str(admin_user.pk)
    assert entry.changes == {"before": {"name": "a"}, "after": {"name": "b", "api_key": "[secret]"}}


def test_scrub_masks_nested_secrets():
    assert scrub({"outer": {"password": "p", "x": 1}, "token": ""}) == {
        "outer": {"password": "[secret]", "x": 1},
        "token": "",
    }


def test_token_creation_is_audited(member, token_for):
    token = token_for(member)
    entry = AuditEntry.objects.get(action="api_token.create")
    assert token not in str(entry.changes) and token not in entry.message


def test_audit_page_lists_and_filters_for_admins_only(login, admin_user, member):
    record("instance.enlist", actor=admin_user, message="brisbane")
    record("space.create", actor=member, message="payments")
    page = login(admin_user).get("/audit/", {"action": "instance."}).content.decode()
    assert "instance.enlist" in page and "space.create" not in page
    assert login(member).get("/audit/").status_code == 302  # not an admin: sent to sign in


def test_audit_api_is_admin_only(api_client, admin_user, member):
    record("instance.enlist", actor=admin_user)
    api_client.force_login(member)
    assert api_client.get("/api/v1/audit/").status_code == 403
    api_client.force_login(admin_user)
    body = api_client.get("/api/v1/audit/", {"action": "instance"}).json()
    assert [e["action"] for e in body["results"]] == ["instance.enlist"]
