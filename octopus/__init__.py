"""ODCM's one Octopus Deploy REST client (sync and async), URL policy and typed errors.

Quick use::

    policy = URLPolicy.from_settings(allow_http, "127.0.0.0/8")
    with OctopusClient("https://octopus.example/octo", api_key, policy=policy) as client:
        root = client.root()          # RootDocument(version=..., installation_id=...)
        spaces = client.spaces()
        n = client.count("/api/Spaces-1/projects")
        pushed = client.upload_package("Spaces-1", "Acme.Web.1.0.0.zip")   # streamed, hashed
        created = client.create_release_v1("Spaces-1", "Acme", packages=["Web:1.0.0"])
        runs = client.deploy_release_v1("Spaces-1", "Acme", created.version, ["Dev"])
        done = client.wait_for_tasks([r.task_id for r in runs], "Spaces-1")

The package never imports Django; ODCM builds the policy from its settings.
"""

from ._core import API_KEY_HEADER, DEFAULT_MAX_RESPONSE_BYTES
from ._net import make_async_http_client, make_http_client
from .aclient import AsyncOctopusClient
from .client import OctopusClient
from .errors import (
    UPSTREAM_KINDS,
    AuthenticationFailed,
    DuplicateVersion,
    ErrorKind,
    LifecycleRefused,
    MissingPackage,
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
    TaskWaitTimedOut,
    TLSError,
    UnexpectedResponse,
    URLNotAllowed,
    ValidationFailed,
    VersionConflict,
)
from .execution import ExecutionOptions, ExecutionTask
from .models import HealthStatus, PingStatus, RawResponse, RetryPolicy, RootDocument, Timeouts
from .packages import (
    Digests,
    PackageChanged,
    PackageDownload,
    PackageUpload,
    StreamedUpload,
    StreamMismatch,
)
from .pipeline import ReleaseCreated, ReleaseSnapshots
from .policy import URLPolicy, parse_networks, system_resolver
from .secret import Secret
from .tasks import PollPolicy, TaskStatus
from .version import OctopusVersion, parse_version

__all__ = [
    "API_KEY_HEADER",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "UPSTREAM_KINDS",
    "AsyncOctopusClient",
    "AuthenticationFailed",
    "Digests",
    "DuplicateVersion",
    "ErrorKind",
    "ExecutionOptions",
    "ExecutionTask",
    "HealthStatus",
    "LifecycleRefused",
    "MissingPackage",
    "NotAnOctopusServer",
    "NotFound",
    "OctopusClient",
    "OctopusError",
    "OctopusHTTPError",
    "OctopusVersion",
    "PackageChanged",
    "StreamMismatch",
    "StreamedUpload",
    "PackageDownload",
    "PackageUpload",
    "PermissionDenied",
    "PingStatus",
    "PollPolicy",
    "RateLimited",
    "RawResponse",
    "RedirectRefused",
    "ReleaseCreated",
    "ReleaseSnapshots",
    "ResponseTooLarge",
    "RetryPolicy",
    "RootDocument",
    "Secret",
    "ServerError",
    "ServerTimeout",
    "ServerUnavailable",
    "TLSError",
    "TaskStatus",
    "TaskWaitTimedOut",
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
