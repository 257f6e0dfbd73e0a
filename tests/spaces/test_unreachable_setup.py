"""Pages that call Octopus cope when the client cannot even be set up (no 500)."""

import pytest

from odcm.crypto import seal
from spaces.models import Instance, Space

pytestmark = pytest.mark.django_db


@pytest.fixture
def instance() -> Instance:
    inst = Instance.objects.create(name="old", slug="old", base_url="http://octopus.internal")
    seal(inst, "api_key", "API-NOTUSED0000000000000000")
    inst.save()
    Space.objects.create(instance=inst, octopus_id="Spaces-2", name="Two", slug="two")
    return inst


def test_url_now_refused_by_policy_is_a_message_not_a_500(instance, login, admin_user, settings):
    settings.ODCM_ALLOW_HTTP_INSTANCES = False  # e.g. an operator tightened the policy
    client = login(admin_user)
    page = client.get(f"/spaces/instances/{instance.pk}/new-space/")
    assert page.status_code == 200
    assert "only https:// URLs are allowed" in page.content.decode()
    space = instance.spaces.get()
    response = client.post(f"/spaces/{space.pk}/delete/", {"confirm_name": "Two"}, follow=True)
    assert response.status_code == 200
    assert "only https:// URLs are allowed" in response.content.decode()


def test_api_key_that_no_longer_decrypts_is_a_message_not_a_500(instance, login, admin_user):
    other = Instance.objects.create(name="x", slug="x", base_url="https://x.example")
    seal(other, "api_key", "API-OTHER000000000000000000")
    Instance.objects.filter(pk=instance.pk).update(api_key=other.api_key)  # swapped ciphertext
    page = login(admin_user).get(f"/spaces/instances/{instance.pk}/new-space/")
    assert page.status_code == 200
    assert "cannot be decrypted" in page.content.decode()
