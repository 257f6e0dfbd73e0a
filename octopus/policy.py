"""The outbound-URL policy (SSRF guard) applied to every Octopus base URL.

The policy is checked twice: statically when a client is built (scheme, user info,
IP literals, odd numeric host forms) and again at connect time by the transports in
``octopus._net``, which resolve the name once, check *every* address it resolves to,
and connect only to those checked addresses. A name that re-binds to a forbidden
address between the check and the connection therefore cannot slip through.

Rules:

* the scheme is ``https`` (``http`` only when ``allow_http``);
* no user info, query or fragment in a base URL; a real host; a port in 1-65535;
* link-local, cloud-metadata, ``0.0.0.0/8``, ``::``, multicast, broadcast and reserved
  addresses are always refused;
* loopback and private ranges (RFC 1918, CGNAT, ULA, documentation, ...) are refused
  unless an ``allowed_networks`` entry covers them;
* IPv4 addresses embedded in IPv6 (mapped, compatible, 6to4, NAT64, Teredo) are checked
  as IPv4 too; non-standard numeric hosts (``2130706433``, ``0x7f000001``) are refused.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import httpx

from .errors import URLNotAllowed

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str], Sequence[str]]
"""Maps an ASCII host name to the IP address strings it resolves to (``OSError`` if none)."""

HTTP_SETTING = "ODCM_ALLOW_HTTP_INSTANCES"
NETWORKS_SETTING = "ODCM_ALLOWED_PRIVATE_NETWORKS"


def _table(rows: Iterable[tuple[str, str]]) -> tuple[tuple[IPNetwork, str], ...]:
    return tuple((ipaddress.ip_network(net), label) for net, label in rows)


# Refused whatever the allowed-network list says. Specific metadata addresses come first
# so the message names them.
ALWAYS_REFUSED = _table(
    [
        ("169.254.169.254/32", "a cloud metadata address"),
        ("169.254.170.2/32", "a cloud metadata address (AWS ECS)"),
        ("fd00:ec2::254/128", "a cloud metadata address (AWS IPv6)"),
        ("100.100.100.200/32", "a cloud metadata address (Alibaba Cloud)"),
        ("168.63.129.16/32", "a cloud platform address (Azure WireServer)"),
        ("192.0.0.192/32", "a cloud metadata address (Oracle Cloud)"),
        ("0.0.0.0/8", "in 0.0.0.0/8 ('this network')"),
        ("255.255.255.255/32", "the broadcast address"),
        ("169.254.0.0/16", "a link-local address"),
        ("224.0.0.0/4", "a multicast address"),
        ("240.0.0.0/4", "a reserved address"),
        ("::/128", "the unspecified address"),
        ("fe80::/10", "a link-local address"),
        ("ff00::/8", "a multicast address"),
    ]
)

# Refused unless an allowed network covers the address.
PRIVATE = _table(
    [
        ("127.0.0.0/8", "a loopback address"),
        ("::1/128", "a loopback address"),
        ("10.0.0.0/8", "a private address (RFC 1918)"),
        ("172.16.0.0/12", "a private address (RFC 1918)"),
        ("192.168.0.0/16", "a private address (RFC 1918)"),
        ("100.64.0.0/10", "a carrier-grade NAT address"),
        ("192.0.0.0/24", "an IETF protocol address"),
        ("192.0.2.0/24", "a documentation address"),
        ("198.51.100.0/24", "a documentation address"),
        ("203.0.113.0/24", "a documentation address"),
        ("198.18.0.0/15", "a benchmarking address"),
        ("fc00::/7", "a unique local (private) IPv6 address"),
        ("fec0::/10", "a site-local IPv6 address"),
        ("2001:db8::/32", "a documentation address"),
        ("2001:2::/48", "a benchmarking address"),
        ("100::/64", "a discard-only address"),
    ]
)

_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_COMPAT = ipaddress.ip_network("::/96")
_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")


def system_resolver(host: str) -> list[str]:
    """Resolve with the operating system (``getaddrinfo``), every address family."""
    infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    seen: dict[str, None] = {}
    for info in infos:
        seen.setdefault(str(info[4][0]).split("%", 1)[0], None)
    return list(seen)


def parse_networks(value: str | Iterable[str | IPNetwork]) -> tuple[IPNetwork, ...]:
    """Parse ``"127.0.0.0/8, 10.0.0.0/8"`` (or a list) into networks; ``ValueError`` if bad."""
    items = re.split(r"[\s,]+", value) if isinstance(value, str) else list(value)
    networks: list[IPNetwork] = []
    for item in items:
        if isinstance(item, ipaddress.IPv4Network | ipaddress.IPv6Network):
            networks.append(item)
        elif item.strip():
            try:
                networks.append(ipaddress.ip_network(item.strip(), strict=False))
            except ValueError as exc:
                raise ValueError(f"{item.strip()!r} is not a network in CIDR form") from exc
    return tuple(networks)


@dataclass(frozen=True)
class Target:
    """A statically checked base URL."""

    scheme: str
    host: str  # ASCII (IDNA), lower case, no brackets, no trailing dot
    port: int | None
    path: str  # without trailing slash; "" for the root
    ip: IPAddress | None  # set when the host is an IP literal

    @property
    def origin(self) -> str:
        host = f"[{self.host}]" if self.ip is not None and self.ip.version == 6 else self.host
        default = {"http": 80, "https": 443}[self.scheme]
        port = f":{self.port}" if self.port not in (None, default) else ""
        return f"{self.scheme}://{host}{port}"

    @property
    def url(self) -> str:
        return self.origin + self.path


def embedded_ipv4(ip: IPAddress) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses carried inside an IPv6 address (mapped, compatible, 6to4, ...)."""
    if ip.version == 4:
        return []
    assert isinstance(ip, ipaddress.IPv6Address)
    found: list[ipaddress.IPv4Address] = []
    if ip.ipv4_mapped is not None:
        found.append(ip.ipv4_mapped)
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found.extend(ip.teredo)
    low32 = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    in_compat = ip in _COMPAT and int(ip) > 1
    if in_compat or ip in _TRANSLATED or any(ip in net for net in _NAT64):
        found.append(low32)
    return found


class URLPolicy:
    """Decides which Octopus URLs ODCM may call. A plain object, no Django import.

    ``allowed_networks`` are CIDRs (strings or networks) in which loopback/private
    addresses are accepted; ``resolver`` may be injected for tests.
    """

    def __init__(
        self,
        *,
        allow_http: bool = False,
        allowed_networks: Iterable[str | IPNetwork] = (),
        resolver: Resolver | None = None,
    ) -> None:
        self.allow_http = allow_http
        self.allowed_networks = parse_networks(allowed_networks)
        self.resolver: Resolver = resolver or system_resolver

    @classmethod
    def from_settings(cls, allow_http: bool, allowed_networks: str | Sequence[str]) -> URLPolicy:
        """Build from the ODCM settings (``ODCM_ALLOW_HTTP_INSTANCES``, ``..._NETWORKS``)."""
        return cls(allow_http=allow_http, allowed_networks=parse_networks(allowed_networks))

    def __repr__(self) -> str:
        nets = ", ".join(str(n) for n in self.allowed_networks)
        return f"URLPolicy(allow_http={self.allow_http}, allowed_networks=[{nets}])"

    # -- public checks ---------------------------------------------------------------

    def check(self, url: str) -> None:
        """Full check, including every address the host name resolves to (does DNS)."""
        target = self.check_static(url)
        if target.ip is None:
            try:
                self.resolve(target.host, url=target.url)
            except OSError:
                raise URLNotAllowed(
                    f"the host name {target.host!r} could not be resolved", url=target.url
                ) from None

    def check_static(self, url: str) -> Target:
        """Checks that need no DNS: scheme, user info, port, IP literals, numeric forms."""
        shown = _display(url)
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, TypeError, ValueError):
            raise URLNotAllowed("it is not a valid URL", url=shown) from None
        self._check_parts(parsed, shown)
        host = parsed.raw_host.decode("ascii").lower()
        host = host[:-1] if host.endswith(".") else host
        target_url = _display(str(parsed.copy_with(query=None, fragment=None)))
        ip = self._literal_ip(host, target_url)
        if ip is not None:
            self.check_address(ip, url=target_url)
        path = parsed.path.rstrip("/")
        if path.lower().endswith("/api"):
            path = path[: -len("/api")]
        return Target(parsed.scheme, str(ip) if ip else host, parsed.port, path, ip)

    def resolve(self, host: str, *, url: str | None = None) -> list[str]:
        """Resolve ``host`` once and check every address; return them all (or raise).

        IP literals are checked and returned as they are. ``OSError`` propagates when
        the name does not resolve, so callers can treat it as a connection failure.
        """
        bare = host.strip("[]").lower().rstrip(".")
        literal = self._literal_ip(bare, url)
        if literal is not None:
            self.check_address(literal, url=url)
            return [str(literal)]
        addresses = list(self.resolver(bare))
        if not addresses:
            raise socket.gaierror(f"no addresses for {bare!r}")
        for address in addresses:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
            self.check_address(ip, url=url, via=bare)
        return addresses

    def check_address(self, ip: IPAddress | str, *, url: str | None = None, via: str = "") -> None:
        """Raise ``URLNotAllowed`` if ODCM may not connect to ``ip``."""
        ip = ipaddress.ip_address(ip) if isinstance(ip, str) else ip
        prefix = f"{via!r} resolves to {ip}, which" if via else f"{ip}"
        for candidate in [ip, *embedded_ipv4(ip)]:
            label = _lookup(ALWAYS_REFUSED, candidate)
            if label:
                raise URLNotAllowed(
                    f"{prefix} is {_carried(ip, candidate)}{label} and is always refused",
                    url=url,
                )
        for candidate in [ip, *embedded_ipv4(ip)]:
            label = _lookup(PRIVATE, candidate)
            if label and not any(candidate in net for net in self.allowed_networks):
                raise URLNotAllowed(
                    f"{prefix} is {_carried(ip, candidate)}{label}; loopback and private "
                    f"addresses are refused unless a network in {NETWORKS_SETTING} covers them",
                    url=url,
                )

    # -- helpers ---------------------------------------------------------------------

    def _check_parts(self, parsed: httpx.URL, shown: str) -> None:
        if parsed.scheme not in ("http", "https"):
            raise URLNotAllowed("only https:// URLs are allowed", url=shown)
        if parsed.scheme == "http" and not self.allow_http:
            raise URLNotAllowed(
                f"only https:// URLs are allowed (set {HTTP_SETTING} to allow http://)", url=shown
            )
        if parsed.userinfo:
            raise URLNotAllowed(
                "it must not contain a user name or password; the API key is configured separately",
                url=shown,
            )
        if parsed.query or parsed.fragment:
            raise URLNotAllowed("a server URL must not have a query string or #fragment", url=shown)
        host = parsed.raw_host.decode("ascii")
        if not host or host in (".", "..") or host.endswith(".."):
            raise URLNotAllowed("it has no host name", url=shown)
        if "%" in host:
            raise URLNotAllowed("IPv6 zone identifiers are not allowed", url=shown)
        if parsed.port is not None and not 0 < parsed.port < 65536:
            raise URLNotAllowed(f"port {parsed.port} is out of range", url=shown)

    @staticmethod
    def _literal_ip(host: str, url: str | None) -> IPAddress | None:
        try:
            return ipaddress.ip_address(host)
        except ValueError:
            pass
        if _NUMERIC_LABEL.match(host.rsplit(".", 1)[-1]):
            try:
                meaning = f" (it means {socket.inet_ntoa(socket.inet_aton(host))})"
            except OSError:
                meaning = ""
            raise URLNotAllowed(
                f"the host {host!r} is a non-standard form of an IP address{meaning}; "
                "write IPv4 addresses as four decimal numbers like 192.0.2.10",
                url=url,
            )
        return None


def _lookup(table: tuple[tuple[IPNetwork, str], ...], ip: IPAddress) -> str | None:
    for network, label in table:
        if ip.version == network.version and ip in network:
            return label
    return None


def _carried(outer: IPAddress, inner: IPAddress) -> str:
    return "" if outer == inner else f"(through the embedded IPv4 address {inner}) "


def _display(url: str) -> str:
    """The URL as shown in messages: without user info, query or fragment."""
    text = str(url)
    scheme, sep, rest = text.partition("://")
    if not sep:
        return text[:200]
    authority, slash, path = rest.partition("/")
    authority = re.split(r"[?#]", authority, maxsplit=1)[0].rsplit("@", 1)[-1]
    path = re.split(r"[?#]", path, maxsplit=1)[0]
    return f"{scheme}://{authority}{slash}{path}"[:200]


__all__ = [
    "ALWAYS_REFUSED",
    "PRIVATE",
    "Resolver",
    "Target",
    "URLPolicy",
    "embedded_ipv4",
    "parse_networks",
    "system_resolver",
]
