"""LDAP sign-in against a real slapd: groups (nested) mapped to spaces, bad input refused."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from audit.models import AuditEntry
from identity import access, services
from identity.models import Role, User, UserExternalGroup
from spaces.models import Space
from tests.fixtures.ldap import PASSWORD, Slapd, group_dn
from tests.identity.test_access import make_instance

pytestmark = pytest.mark.django_db


@pytest.fixture
def ldap_on(settings: Any, slapd: Slapd) -> Slapd:
    from odcm.config import ldap_settings

    for key, value in ldap_settings(environ=slapd.environ()).items():
        setattr(settings, key, value)
    settings.AUTHENTICATION_BACKENDS = [
        "identity.ldap_backend.LDAPBackend",
        *settings.AUTHENTICATION_BACKENDS,
    ]
    return slapd


def sign_in(client: Client, login: str, password: str) -> Any:
    return client.post("/accounts/login/", {"login": login, "password": password})


def test_ldap_login_maps_nested_groups_to_spaces(ldap_on):
    inst = make_instance("Prod", spaces=3)
    apps, ops = inst.spaces.get(octopus_id="Spaces-1"), inst.spaces.get(octopus_id="Spaces-2")
    # alice is in developers, which is inside engineering: the nested group counts.
    engineering = services.create_group(
        name="Engineering", external_groups=[group_dn("engineering")]
    )
    operations = services.create_group(name="Operations", external_groups=[group_dn("ops")])
    services.grant(engineering, Role.DEPLOYER, space=apps)
    services.grant(operations, Role.MANAGER, space=ops)

    client = Client()
    response = sign_in(client, "alice", PASSWORD)

    assert response.status_code == 302, response.content
    alice = User.objects.get(username="alice")
    assert alice.email == "alice@corp.example" and alice.first_name == "Alice"
    stored = set(
        UserExternalGroup.objects.filter(user=alice, source="ldap").values_list("value", flat=True)
    )
    assert {v.lower() for v in stored} == {group_dn("developers"), group_dn("engineering")}
    assert list(Space.objects.visible_to(alice)) == [apps]
    assert access.space_role(alice, apps) == Role.DEPLOYER
    # The session really is alice's, and sees only her space.
    assert client.get("/api/v1/me/").json()["username"] == "alice"
    assert AuditEntry.objects.filter(action="auth.login", actor=alice).exists()


def test_groups_are_read_again_at_each_sign_in(ldap_on):
    client = Client()
    assert sign_in(client, "carol", PASSWORD).status_code == 302
    carol = User.objects.get(username="carol")
    groups = {g.lower() for g in carol.external_groups.values_list("value", flat=True)}
    assert groups == {group_dn("engineering"), group_dn("ops")}
    # Stale groups from an earlier sign-in are replaced.
    UserExternalGroup.objects.create(user=carol, source="ldap", key="cn=old", value="cn=old")
    assert sign_in(Client(), "carol", PASSWORD).status_code == 302
    assert not carol.external_groups.filter(key="cn=old").exists()


def test_wrong_password_is_refused(ldap_on):
    response = sign_in(Client(), "alice", "not-the-password")
    assert response.status_code == 200
    assert b'data-testid="login-error"' in response.content
    assert not User.objects.filter(username="alice").exists()


@pytest.mark.parametrize(
    "login",
    ["*", "alice)(uid=*", "al*", "alice)(|(uid=*", "\\2a", "alice\\", "(uid=alice)", "a,b=c"],
)
def test_ldap_special_characters_in_the_username_are_refused_cleanly(ldap_on, login):
    response = sign_in(Client(), login, PASSWORD)
    assert response.status_code == 200
    assert b'data-testid="login-error"' in response.content
    assert not User.objects.exists()


def test_local_accounts_still_sign_in_with_ldap_on(ldap_on, member):
    from tests.conftest import PASSWORD as LOCAL

    assert sign_in(Client(), "mia", LOCAL).status_code == 302


def test_ldap_is_not_even_imported_when_not_configured(project_root: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ODCM_LDAP_")}
    env.update({"DJANGO_SETTINGS_MODULE": "odcm.settings", "ODCM_DEBUG": "true",
                "ODCM_VAR_DIR": str(project_root / "var" / "test-noldap")})  # fmt: skip
    code = (
        "import sys, django; django.setup();"
        "from django.urls import get_resolver; get_resolver().url_patterns;"
        "import identity.access, identity.services.teams, identity.services, identity.admin_views;"
        "bad = [m for m in sys.modules"
        " if m == 'ldap' or m.startswith(('ldap.', 'django_auth_ldap'))];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=project_root, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
