"""The outbound-URL policy: tricky URLs, with an injected resolver (no real DNS)."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from octopus import URLNotAllowed, URLPolicy, parse_networks
from octopus.policy import embedded_ipv4

PUBLIC = "93.184.215.14"
FAKE_DNS = {
    "octopus.example.com": [PUBLIC],
    "xn--bcher-kva.example": ["93.184.215.15"],
    "v6only.example": ["2606:4700::1111"],
    "localhost": ["127.0.0.1", "::1"],
    "localtest.me": ["127.0.0.1"],
    "rebind.example": [PUBLIC, "169.254.169.254"],
    "intranet.example": ["10.1.2.3"],
    "xn--bcher-kva.evil": ["127.0.0.1"],
    "metadata.google.internal": ["169.254.169.254"],
}
LOOKUPS: list[str] = []


def fake_resolver(host: str) -> list[str]:
    LOOKUPS.append(host)
    if host in FAKE_DNS:
        return FAKE_DNS[host]
    raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


def strict() -> URLPolicy:
    return URLPolicy(resolver=fake_resolver)


def loopback_ok() -> URLPolicy:
    return URLPolicy(allow_http=True, allowed_networks=["127.0.0.0/8"], resolver=fake_resolver)


REFUSED = [
    ("http://octopus.example.com/", "only https"),
    ("ftp://octopus.example.com/", "only https"),
    ("file:///etc/passwd", "only https"),
    ("gopher://127.0.0.1:6379/_INFO", "only https"),
    ("https://2130706433/", "non-standard form of an IP address (it means 127.0.0.1)"),
    ("https://0x7f000001/", "non-standard form of an IP address (it means 127.0.0.1)"),
    ("https://0177.0.0.1/", "not a valid URL"),
    ("https://127.1/", "non-standard form"),
    ("https://0/", "non-standard form"),
    ("https://[::ffff:127.0.0.1]/", "embedded IPv4 address 127.0.0.1) a loopback address"),
    ("https://[::ffff:169.254.169.254]/", "cloud metadata address and is always refused"),
    ("https://[64:ff9b::7f00:1]/", "loopback"),
    ("https://[2002:7f00:1::]/", "loopback"),
    ("https://0.0.0.0/", "'this network'"),
    ("https://0.0.0.0:8080/", "'this network'"),
    ("https://[::]/", "unspecified address"),
    ("https://good.example@127.0.0.1/", "user name or password"),
    ("https://good.example\\@127.0.0.1/", "user name or password"),
    ("https://127.0.0.1#@good.example/", "#fragment"),
    ("https://localhost/", "'localhost' resolves to 127.0.0.1, which is a loopback address"),
    ("https://localhost./", "'localhost' resolves to 127.0.0.1"),
    ("https://localtest.me/", "resolves to 127.0.0.1"),
    ("https://127.0.0.1./", "loopback"),
    ("https://169.254.169.254/latest/meta-data/", "cloud metadata address"),
    ("https://metadata.google.internal/", "cloud metadata address"),
    ("https://[fd00:ec2::254]/", "cloud metadata address (AWS IPv6)"),
    ("https://100.100.100.200/", "Alibaba"),
    ("https://10.0.0.5/", "private address (RFC 1918)"),
    ("https://intranet.example/", "private address"),
    ("https://100.64.1.1/", "carrier-grade NAT"),
    ("https://[fc00::1]/", "unique local"),
    ("https://[fe80::1]/", "link-local"),
    ("https://[fe80::1%25eth0]/", "zone identifiers"),
    ("https://224.0.0.1/", "multicast"),
    ("https://[ff02::1]/", "multicast"),
    ("https://255.255.255.255/", "broadcast"),
    ("https:///api", "no host name"),
    ("https://octopus.example.com:0/", "port 0 is out of range"),
    ("https://octopus.example.com:99999/", "port 99999 is out of range"),
    ("https://octopus.example.com/?apikey=API-SECRET", "query string"),
    ("https://rebind.example/", "'rebind.example' resolves to 169.254.169.254"),
    ("https://bücher.evil/", "resolves to 127.0.0.1"),
    ("https://ⓛⓞⓒⓐⓛⓗⓞⓢⓣ/", "not a valid URL"),
    ("https://１２７.０.０.１/", "not a valid URL"),
    ("https://nowhere.invalid/", "could not be resolved"),
]


@pytest.mark.parametrize(("url", "reason"), REFUSED)
def test_strict_policy_refuses_tricky_url(url: str, reason: str) -> None:
    with pytest.raises(URLNotAllowed) as caught:
        strict().check(url)
    assert reason in str(caught.value)
    assert "API-SECRET" not in str(caught.value)


@pytest.mark.parametrize(
    "url",
    [
        "https://octopus.example.com/",
        "https://octopus.example.com/octo/",
        "https://OCTOPUS.example.com./octo",
        "https://bücher.example/",
        "https://v6only.example:8443/",
        f"https://{PUBLIC}/",
        "https://[2606:4700::1111]/",
    ],
)
def test_strict_policy_accepts_public_https_url(url: str) -> None:
    strict().check(url)


def test_http_is_allowed_only_when_enabled() -> None:
    URLPolicy(allow_http=True, resolver=fake_resolver).check("http://octopus.example.com/")
    with pytest.raises(URLNotAllowed, match="ODCM_ALLOW_HTTP_INSTANCES"):
        strict().check("http://octopus.example.com/")


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/slug",
        "https://localtest.me/",
        "https://[::ffff:127.0.0.1]/",
        "http://127.0.0.2/",
    ],
)
def test_listed_network_allows_loopback(url: str) -> None:
    loopback_ok().check(url)


def test_every_resolved_address_must_be_allowed() -> None:
    # localhost also resolves to ::1, which 127.0.0.0/8 does not cover.
    with pytest.raises(URLNotAllowed, match="resolves to ::1"):
        loopback_ok().check("https://localhost/")
    both = URLPolicy(allowed_networks=["127.0.0.0/8", "::1/128"], resolver=fake_resolver)
    both.check("https://localhost/")


@pytest.mark.parametrize(
    ("url", "listed"),
    [
        ("https://169.254.169.254/", "169.254.0.0/16"),
        ("https://169.254.169.254/", "0.0.0.0/0"),
        ("https://[fd00:ec2::254]/", "fc00::/7"),
        ("https://100.100.100.200/", "100.64.0.0/10"),
        ("https://[fe80::1]/", "::/0"),
        ("https://0.0.0.0/", "0.0.0.0/0"),
        ("https://[::ffff:169.254.169.254]/", "0.0.0.0/0"),
    ],
)
def test_metadata_and_link_local_stay_refused_even_if_listed(url: str, listed: str) -> None:
    with pytest.raises(URLNotAllowed, match="always refused"):
        URLPolicy(allowed_networks=[listed], resolver=fake_resolver).check(url)


def test_static_check_does_no_dns_and_normalises_base_url() -> None:
    LOOKUPS.clear()
    target = strict().check_static("https://Octopus.Example.com:443/octo/api/")
    assert LOOKUPS == []
    assert target.url == "https://octopus.example.com/octo"
    assert strict().check_static("https://bücher.example/").host == "xn--bcher-kva.example"
    assert loopback_ok().check_static("http://[::ffff:127.0.0.1]:81/").origin.endswith(":81")


def test_resolve_returns_every_checked_address() -> None:
    both = URLPolicy(allowed_networks=["127.0.0.0/8", "::1/128"], resolver=fake_resolver)
    assert both.resolve("localhost") == ["127.0.0.1", "::1"]
    assert both.resolve("127.0.0.1") == ["127.0.0.1"]
    with pytest.raises(OSError):
        both.resolve("nowhere.invalid")


def test_parse_networks_reads_the_setting_format() -> None:
    assert parse_networks("127.0.0.0/8, 10.0.0.0/8 fc00::/7") == (
        ipaddress.ip_network("127.0.0.0/8"),
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("fc00::/7"),
    )
    assert parse_networks("") == ()
    with pytest.raises(ValueError, match="not a network"):
        parse_networks("127.0.0.0/8, banana")
    policy = URLPolicy.from_settings(True, "127.0.0.0/8")
    assert repr(policy) == "URLPolicy(allow_http=True, allowed_networks=[127.0.0.0/8])"


def test_embedded_ipv4_forms_are_unwrapped() -> None:
    def v4(text: str) -> list[str]:
        return [str(a) for a in embedded_ipv4(ipaddress.ip_address(text))]

    assert v4("::ffff:10.0.0.1") == ["10.0.0.1"]
    assert v4("2002:a00:1::") == ["10.0.0.1"]
    assert v4("64:ff9b::a00:1") == ["10.0.0.1"]
    assert v4("::a00:1") == ["10.0.0.1"]
    assert v4("::1") == []
    assert v4("2606:4700::1111") == []
