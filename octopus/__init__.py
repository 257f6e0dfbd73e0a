"""ODCM's one Octopus Deploy REST client (sync and async), URL policy and typed errors.

Quick use::

    policy = URLPolicy.from_settings(allow_http, "127.0.0.0/8")
    with OctopusClient("https://octopus.example/octo", api_key, policy=policy) as client:
        root = client.root()          # RootDocument(version=..., installation_id=...)
        spaces = client.spaces()
        n = client.count("/api/Spaces-1/projects")

The package never imports Django; ODCM builds the policy from its settings.
"""

from ._core import API_KEY_HEADER, DEFAULT_MAX_RESPONSE_BYTES
from ._net import make_async_http_client, make_http_client
from .aclient import AsyncOctopusClient
from .client import OctopusClient
from .errors import (
    UPSTREAM_KINDS,
    AuthenticationFailed,
    ErrorKind,
    NotAnOctopusServer,
    NotFound,
    OctopusError,
    OctopusHTTPError,
    PermissionDenied,
    RateLimited,
    RedirectRefused,
    ResponseTooLarge,
    ServerError,
    ServerTimeout,
    ServerUnavailable,
    TLSError,
    UnexpectedResponse,
    URLNotAllowed,
    ValidationFailed,
    VersionConflict,
)
from .models import HealthStatus, PingStatus, RawResponse, RetryPolicy, RootDocument, Timeouts
from .policy import URLPolicy, parse_networks, system_resolver
from .secret import Secret
from .version import OctopusVersion, parse_version

__all__ = [
    "API_KEY_HEADER",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "UPSTREAM_KINDS",
    "AsyncOctopusClient",
    "AuthenticationFailed",
    "ErrorKind",
    "HealthStatus",
    "NotAnOctopusServer",
    "NotFound",
    "OctopusClient",
    "OctopusError",
    "OctopusHTTPError",
    "OctopusVersion",
    "PermissionDenied",
    "PingStatus",
    "RateLimited",
    "RawResponse",
    "RedirectRefused",
    "ResponseTooLarge",
    "RetryPolicy",
    "RootDocument",
    "Secret",
    "ServerError",
    "ServerTimeout",
    "ServerUnavailable",
    "TLSError",
    "Timeouts",
    "URLNotAllowed",
    "URLPolicy",
    "UnexpectedResponse",
    "ValidationFailed",
    "VersionConflict",
    "make_async_http_client",
    "make_http_client",
    "parse_networks",
    "parse_version",
    "system_resolver",
]
