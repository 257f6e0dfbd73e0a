"""The source ODCM's package endpoint serves a package only to the space the bundle was
promoted to, for a package of that bundle, on a fresh signed request; everything else is
refused before a byte is read from the feed (the transfer itself: test_two_odcms.py)."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from django.test import Client

from promotions import formats
from promotions.models import Promotion
from promotions.services import identities

from .conftest import Pair, claims, signed

PKG = {
    "id": "Acme.Web",
    "version": "1.0.0",
    "feed": "feeds-builtin",
    "sha1": "0" * 40,
    "sha256": "0" * 64,
    "size": 20,
    "file_extension": ".zip",
}


@pytest.fixture
def promoted(pair: Pair) -> Promotion:
    token = signed(pair.source_id, claims(pair, packages=[PKG]))
    return Promotion.objects.create(
        id=uuid.UUID(str(_claims(token)["jti"])),
        space=pair.source,
        target=pair.target_peer,
        project_id="Projects-1",
        project_name="Web",
        release_id="Releases-1",
        release_version="1.0.0",
        token=token,
        state=Promotion.State.DELIVERED,
    )


def _claims(token: str) -> dict[str, Any]:
    import jwt

    return dict(jwt.decode(token, options={"verify_signature": False}))


def request(
    identity: Any, promotion: Promotion, package: str = "Acme.Web.1.0.0", **override: Any
) -> str:
    key, cert = identities.signer(identity)
    now = int(time.time())
    body = {
        "iss": "x",
        "aud": formats.header(promotion.token)["kid"],
        "jti": str(uuid.uuid4()),
        "iat": now,
        "exp": now + 300,
        "bundle": str(promotion.pk),
        "package": package,
        **override,
    }
    return formats.sign(body, key, cert, formats.PACKAGE_REQUEST_TYPE)


def get(promotion: Promotion, token: str | None, name: str = "Acme.Web.1.0.0") -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return Client().get(
        f"/promotions/exchange/bundles/{promotion.pk}/packages/{name}", headers=headers
    )


def test_a_package_request_without_a_signature_is_refused(promoted: Promotion) -> None:
    answer = get(promoted, None)
    assert answer.status_code == 401
    assert "signed package request" in answer.json()["message"]


def test_a_space_the_bundle_was_not_promoted_to_gets_nothing(
    pair: Pair, promoted: Promotion
) -> None:
    # The source's own certificate is known here (as "DevTest (remote)"), but the bundle
    # went to Prod.
    answer = get(promoted, request(pair.source_id, promoted))
    assert answer.status_code == 403
    assert "was promoted to DevTest (remote)" in answer.json()["message"]


def test_only_packages_of_the_bundle_are_served(pair: Pair, promoted: Promotion) -> None:
    token = request(pair.target_id, promoted, package="Acme.Secret.9.9.9")
    answer = get(promoted, token, name="Acme.Secret.9.9.9")
    assert answer.status_code == 403
    assert "is not a built-in feed package of bundle" in answer.json()["message"]


def test_a_request_signed_for_another_package_than_the_url_is_refused(
    pair: Pair, promoted: Promotion
) -> None:
    answer = get(promoted, request(pair.target_id, promoted), name="Acme.Other.1.0.0")
    assert answer.status_code == 403
    assert "names another bundle or package" in answer.json()["message"]


def test_an_expired_package_request_is_refused(pair: Pair, promoted: Promotion) -> None:
    old = int(time.time()) - 3600
    answer = get(promoted, request(pair.target_id, promoted, iat=old, exp=old + 300))
    assert answer.status_code == 403
    assert "expired" in answer.json()["message"].lower()


def test_a_tampered_package_request_is_refused(pair: Pair, promoted: Promotion) -> None:
    head, body, sig = request(pair.target_id, promoted).split(".")
    forged = request(pair.target_id, promoted, package="Acme.Web.1.0.1").split(".")[1]
    answer = get(promoted, f"{head}.{forged}.{sig}")
    assert answer.status_code == 403
    assert "signature does not match" in answer.json()["message"]
    assert body != forged
