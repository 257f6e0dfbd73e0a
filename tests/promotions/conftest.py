"""Fixtures for promotions: two spaces with identities, exchanged certificates and trusts,
as two ODCMs that exchanged PEM files by hand would hold them (the peers are remote rows)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from promotions import formats, pki
from promotions.models import RemoteSpace, SpaceIdentity, Trust
from promotions.services import bundles, identities, peers
from spaces.models import Instance, Space

SECRET = "pr0m0-Plaintext-Must-Not-Leak-4417"


def make_space(name: str) -> Space:
    slug = name.lower().replace(" ", "-")
    tag = uuid.uuid4().hex[:6]
    inst = Instance.objects.create(
        name=f"{slug}-{tag}", slug=f"{slug}-{tag}", base_url=f"https://{tag}.octopus.invalid"
    )
    return Space.objects.create(instance=inst, octopus_id="Spaces-1", name=name, slug=slug)


@dataclass
class Pair:
    source: Space
    target: Space
    source_id: SpaceIdentity
    target_id: SpaceIdentity
    # what the target knows of the source, and the source of the target
    source_peer: RemoteSpace
    target_peer: RemoteSpace


def exchange(source: Space, target: Space) -> Pair:
    """Both sides generate identities, exchange PEMs by hand and confirm fingerprints."""
    sid, tid = identities.ensure(source), identities.ensure(target)
    source_peer = peers.add_remote(f"{source.name} (remote)", certificate=sid.certificate_pem)
    target_peer = peers.add_remote(f"{target.name} (remote)", certificate=tid.certificate_pem)
    peers.confirm(peers.propose(target, source_peer, Trust.Accepts.RELEASES), sid.fingerprint)
    peers.confirm(peers.propose(source, target_peer, Trust.Accepts.RECEIPTS), tid.fingerprint)
    return Pair(source, target, sid, tid, source_peer, target_peer)


@pytest.fixture
def pair(db: None) -> Pair:
    return exchange(make_space("DevTest"), make_space("Prod"))


def claims(pair: Pair, **override: Any) -> dict[str, Any]:
    """A minimal, valid bundle payload from pair.source to pair.target."""
    base: dict[str, Any] = {
        "iss": str(pair.source.pk),
        "aud": pair.target_id.fingerprint,
        "jti": str(uuid.uuid4()),
        "iat": int(time.time()),
        "schema": bundles.SCHEMA,
        "source": {
            "space": pair.source.name,
            "space_id": str(pair.source.pk),
            "odcm": "",
            "promoted_by": "ada",
        },
        "target": {"name": pair.target.name, "id": ""},
        "project": {"id": "Projects-1", "name": "Web", "description": ""},
        "release": {
            "id": "Releases-1",
            "version": "1.0.0",
            "notes": "",
            "channel": "Default",
            "selected_packages": [],
        },
        "process": {"Steps": []},
        "variables": {
            "project": {
                "Variables": [
                    {
                        "Name": "Db.Password",
                        "Value": None,
                        "IsSensitive": True,
                        "Type": "Sensitive",
                        "Scope": {},
                    }
                ]
            },
            "library": [],
        },
        "templates": [],
        "environments": {},
        "packages": [],
        "remote_values": [],
        "earlier_deployments": [],
    }
    base.update(override)
    return base


def signed(identity: SpaceIdentity, payload: dict[str, Any]) -> str:
    key, cert = identities.signer(identity)
    return formats.sign(payload, key, cert, formats.BUNDLE_TYPE)


def fp_of(pem: str) -> str:
    return pki.fingerprint(pki.load_certificate(pem))


def database_text() -> list[tuple[str, str]]:
    """Every row of every table of the database, as JSON text (for the secrets scan)."""
    from django.db import connection

    out: list[tuple[str, str]] = []
    with connection.cursor() as cursor:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        tables = [row[0] for row in cursor.fetchall()]
        for table in tables:
            cursor.execute(f'SELECT row_to_json(t)::text FROM "{table}" t')  # noqa: S608
            out.extend((table, row[0]) for row in cursor.fetchall())
    return out


def assert_nowhere(secrets: list[str], caplog: Any) -> None:
    """No plaintext in any database column, log record or email."""
    from django.core import mail

    places = database_text()
    places += [(f"log {r.name}", r.getMessage()) for r in caplog.records]
    places += [(f"mail {m.subject}", f"{m.subject} {m.body}") for m in mail.outbox]
    assert any(t == "promotions_inboundbundle" for t, _ in places)
    for where, text in places:
        for secret in secrets:
            assert secret not in text, f"a sensitive value is in clear in {where}"
