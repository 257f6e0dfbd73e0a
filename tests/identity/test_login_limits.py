"""Sign-in limits: per account whatever identifier is typed, and per client address behind
trusted reverse proxies (ODCM_TRUSTED_PROXY_HOPS), which the audit log records too."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client, RequestFactory, override_settings

from audit.models import AuditEntry
from odcm.clientip import client_ip
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

PROXY = "10.9.9.9"


def attempt(login: str, password: str, **meta: Any):
    return Client().post("/accounts/login/", {"login": login, "password": password}, **meta)


def test_locking_the_username_locks_the_email_too(member):
    for n in range(5):
        attempt("mia", "wrong-password", REMOTE_ADDR=f"10.0.3.{n}")
    blocked = attempt("mia@example.com", PASSWORD, REMOTE_ADDR="10.0.3.99")
    assert blocked.status_code != 302
    assert b"Too many failed login attempts" in blocked.content


def test_locking_the_email_locks_the_username_too(member):
    for n in range(5):
        attempt("MIA@example.com", "wrong-password", REMOTE_ADDR=f"10.0.4.{n}")
    assert attempt("mia", PASSWORD, REMOTE_ADDR="10.0.4.99").status_code != 302


def test_another_account_is_not_locked(member, outsider):
    for n in range(5):
        attempt("mia", "wrong-password", REMOTE_ADDR=f"10.0.5.{n}")
    assert attempt("oscar", PASSWORD, REMOTE_ADDR="10.0.5.99").status_code == 302


@override_settings(ODCM_TRUSTED_PROXY_HOPS=1)
def test_behind_a_proxy_one_client_cannot_lock_out_the_others(member):
    for n in range(20):
        attempt(f"nobody{n}", "wrong", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="203.0.113.7")
    assert (
        attempt("mia", PASSWORD, REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="203.0.113.7").status_code
        != 302
    )
    ok = attempt("mia", PASSWORD, REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="198.51.100.2")
    assert ok.status_code == 302
    entry = AuditEntry.objects.filter(action="auth.login").latest("at")
    assert entry.ip_address == "198.51.100.2"


@override_settings(ODCM_TRUSTED_PROXY_HOPS=1)
def test_addresses_the_client_wrote_itself_are_ignored():
    request = RequestFactory().get(
        "/", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="1.2.3.4, 198.51.100.2"
    )
    assert client_ip(request) == "198.51.100.2"


@override_settings(ODCM_TRUSTED_PROXY_HOPS=2)
def test_two_hops_and_a_short_header():
    factory = RequestFactory()
    chain = factory.get(
        "/", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="6.6.6.6, 198.51.100.2, 10.0.0.5"
    )
    assert client_ip(chain) == "198.51.100.2"
    short = factory.get("/", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="198.51.100.2")
    assert client_ip(short) == "198.51.100.2"
    junk = factory.get("/", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="not-an-ip, x")
    assert client_ip(junk) == PROXY


def test_without_trusted_proxies_the_header_is_ignored():
    request = RequestFactory().get("/", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="198.51.100.2")
    assert client_ip(request) == PROXY
