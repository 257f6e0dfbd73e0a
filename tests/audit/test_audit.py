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
    assert login(member).get("/audit/").status_code == 403  # signed in, not an admin


def test_audit_api_is_admin_only(api_client, admin_user, member):
    record("instance.enlist", actor=admin_user)
    api_client.force_login(member)
    assert api_client.get("/api/v1/audit/").status_code == 403
    api_client.force_login(admin_user)
    body = api_client.get("/api/v1/audit/", {"action": "instance"}).json()
    assert [e["action"] for e in body["results"]] == ["instance.enlist"]


@pytest.mark.parametrize("url", ["/audit/", "/administration/", "/audit/export.csv"])
def test_a_signed_in_non_administrator_gets_403_not_a_redirect_loop(login, member, client, url):
    response = login(member).get(url)
    assert response.status_code == 403
    assert b"ask an ODCM administrator" in response.content  # the 403 page
    anonymous = client.get(url)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/accounts/login/")


def test_a_403_is_logged_as_one_line_without_a_traceback(login, member, caplog):
    with caplog.at_level("WARNING", logger="django.request"):
        assert login(member).get("/administration/").status_code == 403
    records = [r for r in caplog.records if r.name == "django.request"]
    assert records and all(r.exc_info is None for r in records)


def test_audit_entries_name_their_objects_and_link_to_them(login, admin_user):
    from spaces.models import Instance, Space

    instance = Instance.objects.create(name="Brisbane", slug="brisbane", base_url="http://b.test")
    space = Space.objects.create(
        instance=instance, octopus_id="Spaces-1", name="Payments", slug="p"
    )
    record("spaces.space.enlist", actor=admin_user, obj=space)
    record("spaces.instance.update", actor=admin_user, obj=instance)
    page = login(admin_user).get("/audit/").content.decode()
    assert f'href="/spaces/{space.pk}/" data-testid="audit-object-link">Payments' in page
    assert (
        f'href="/spaces/instances/{instance.pk}/" data-testid="audit-object-link">Brisbane' in page
    )


def test_subscription_and_grant_labels_use_names_not_ids(admin_user):
    from identity.models import Grant, Group
    from sharing.models import SharedItem, Subscription
    from spaces.models import Instance, Space

    instance = Instance.objects.create(name="Brisbane", slug="brisbane", base_url="http://b.test")
    publisher = Space.objects.create(instance=instance, octopus_id="Spaces-1", name="Pub", slug="a")
    subscriber = Space.objects.create(
        instance=instance, octopus_id="Spaces-2", name="Sub", slug="b"
    )
    item = SharedItem.objects.create(publisher=publisher, name="Common vars", kind="variable_set")
    subscription = Subscription.objects.create(item=item, space=subscriber)
    entry = record("sharing.subscribe", actor=admin_user, obj=subscription)
    assert entry.object_label.startswith("subscription of Sub")
    assert entry.object_label.endswith(" to Common vars")
    assert str(subscriber.pk) not in entry.object_label
    group = Group.objects.create(name="Deployers")
    grant = Grant.objects.create(group=group, space=subscriber, role="deployer")
    label = record("identity.grant", actor=admin_user, obj=grant).object_label
    assert label.startswith("Deployers deployer on space Sub")
    assert str(subscriber.pk) not in label and str(group.pk) not in label


def test_audit_csv_exports_the_filtered_entries_with_formulas_neutralised(login, admin_user):
    record("instance.enlist", actor=admin_user, message='=HYPERLINK("http://evil")')
    record("space.create", actor=admin_user, message="+1-2")
    record("other.thing", actor=admin_user, message="-x")
    response = login(admin_user).get("/audit/export.csv", {"action": "instance."})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode()
    lines = text.strip().splitlines()
    assert lines[0].startswith("at,actor,action,object_type")
    assert len(lines) == 2 and "instance.enlist" in lines[1]
    assert ",\"'=HYPERLINK" in lines[1]
    everything = b"".join(login(admin_user).get("/audit/export.csv").streaming_content).decode()
    assert ",'+1-2" in everything and ",'-x" in everything
