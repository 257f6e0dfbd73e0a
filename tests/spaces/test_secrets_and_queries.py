"""The API key never leaks; list pages and the switcher cost the same for 10 or 500 spaces."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from audit.models import AuditEntry
from identity import services as identity_services
from identity.models import Role, User
from octosim.testing import SimInstance
from spaces import services
from spaces.models import Favourite, Instance, RecentVisit, Space
from tests.spaces.conftest import make_rows
from tests.spaces.octo import add_space

pytestmark = pytest.mark.django_db


def test_api_key_never_appears_in_responses_pages_logs_or_audit(
    sim_instance: SimInstance, admin_user: User, login: Callable[[User], Client],
    token_for: Callable[..., str], caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    caplog.set_level(logging.DEBUG)
    secrets = [sim_instance.api_key, sim_instance.read_only_api_key, "API-WRONGKEYWRONGKEY0000"]
    bodies: list[bytes] = []
    web = login(admin_user)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(admin_user)}")

    def keep(response: Any) -> Any:
        bodies.append(response.content)
        return response

    form = {"name": "Leaky?", "base_url": sim_instance.url}
    keep(web.post(reverse("spaces:enlist"), {**form, "api_key": secrets[2]}))
    keep(web.post(reverse("spaces:enlist"), {**form, "api_key": secrets[1]}))
    keep(web.post(reverse("spaces:enlist"), {**form, "api_key": secrets[0]}, follow=True))
    inst = Instance.objects.get()
    space = inst.spaces.get(octopus_id="Spaces-2")
    add_space(sim_instance, "Leak check")
    for name in ("spaces:instance", "spaces:instance-edit", "spaces:instance-rotate",
                 "spaces:space-create"):  # fmt: skip
        keep(web.get(reverse(name, args=[inst.pk])))
    keep(web.post(reverse("spaces:instance-refresh", args=[inst.pk]), follow=True))
    keep(web.post(reverse("spaces:instance-rotate", args=[inst.pk]), {"api_key": secrets[1]}))
    keep(web.post(reverse("spaces:instance-rotate", args=[inst.pk]), {"api_key": secrets[0]},
                  follow=True))  # fmt: skip
    for name in ("spaces:list", "spaces:instances", "spaces:switcher", "home"):
        keep(web.get(reverse(name)))
    keep(web.get(reverse("spaces:space", args=[space.pk])))
    keep(web.get(reverse("spaces:space-delete", args=[space.pk])))
    keep(web.get("/django-admin/spaces/instance/"))
    keep(web.get(f"/django-admin/spaces/instance/{inst.pk}/change/"))
    keep(api.get("/api/v1/instances/"))
    keep(api.get(f"/api/v1/instances/{inst.pk}/"))
    keep(api.patch(f"/api/v1/instances/{inst.pk}/", {"api_key": secrets[1]}, format="json"))
    keep(api.patch(f"/api/v1/instances/{inst.pk}/", {"api_key": secrets[0]}, format="json"))
    keep(api.post(f"/api/v1/instances/{inst.pk}/refresh/"))
    keep(api.post("/api/v1/instances/", {"name": "Again", "url": sim_instance.url,
                                         "api_key": secrets[0]}, format="json"))  # fmt: skip
    keep(api.get("/api/v1/spaces/?page_size=500"))
    keep(api.get("/api/v1/audit/"))
    keep(api.get("/api/schema/"))
    assert len(bodies) > 25 and all(bodies)
    audit = [repr(e.changes) + e.message for e in AuditEntry.objects.all()]
    assert len(audit) >= 4
    logged = caplog.text + "".join(r.getMessage() + repr(r.args) for r in caplog.records)
    assert "Leak check" in b"".join(bodies).decode()  # the flow really ran
    for secret in secrets:
        for body in bodies:
            assert secret.encode() not in body
        assert secret not in logged
        assert not any(secret in text for text in audit)
    # The stored value is ciphertext.
    raw = Instance.objects.values_list("api_key", flat=True).get()
    assert secrets[0] not in str(raw)


def _viewer(spaces: list[Space]) -> User:
    """A non-admin who sees every given space's instance through a grant."""
    user = User.objects.create_user(username=f"v{len(spaces)}", password="x")
    group = identity_services.create_group(name=f"viewers {len(spaces)}", members=[user])
    for inst in {s.instance for s in spaces}:
        identity_services.grant(group, Role.VIEWER, instance=inst)
    return user


def _count(client: Client | APIClient, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
        assert response.status_code == 200
    return len(ctx.captured_queries)


def _world(n: int) -> tuple[User, User]:
    rows = make_rows(n, instances=max(1, n // 50), prefix=f"w{n}")
    viewer = _viewer(rows)
    admin = User.objects.create_superuser(username=f"admin{n}", password="x")
    for user in (viewer, admin):
        Favourite.objects.bulk_create(Favourite(user=user, space=s) for s in rows[: n // 2])
        for s in rows:
            services.record_visit(user, s)
    for inst in Instance.objects.filter(slug__startswith=f"w{n}-"):
        services.update_instance(inst, tags=["prod", f"t{n}"])
    return viewer, admin


def test_list_pages_api_and_switcher_do_not_grow_with_spaces(
    login: Callable[[User], Client],
) -> None:
    counts: dict[int, dict[str, int]] = {}
    for n in (10, 500):
        viewer, admin = _world(n)
        assert RecentVisit.objects.filter(user=viewer).count() == n
        counts[n] = {}
        for who, user in (("viewer", viewer), ("admin", admin)):
            web = login(user)
            api = APIClient()
            api.force_authenticate(user)
            counts[n][f"{who} tiles"] = _count(web, reverse("spaces:list"))
            counts[n][f"{who} switcher"] = _count(web, reverse("spaces:switcher"))
            counts[n][f"{who} api"] = _count(api, "/api/v1/spaces/?page_size=500")
            counts[n][f"{who} api search"] = _count(
                api, "/api/v1/spaces/?search=prod&page_size=500"
            )
            counts[n][f"{who} instances"] = _count(web, reverse("spaces:instances"))
            counts[n][f"{who} favourites api"] = _count(api, "/api/v1/favourites/?page_size=500")
            counts[n][f"{who} instances api"] = _count(api, "/api/v1/instances/?page_size=500")
        Space.objects.filter(instance__slug__startswith=f"w{n}-").delete()
        Instance.objects.filter(slug__startswith=f"w{n}-").delete()
    assert counts[10] == counts[500], counts
    assert all(v > 0 for v in counts[10].values()), counts  # the counting works
