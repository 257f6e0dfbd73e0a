"""Sans-IO interpretation of Octopus answers: errors, JSON, root, health, collections."""

from __future__ import annotations

import email.utils
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import _json
from .errors import (
    AuthenticationFailed,
    DuplicateVersion,
    LifecycleRefused,
    MissingPackage,
    NotAnOctopusServer,
    NotFound,
    OctopusError,
    OctopusHTTPError,
    PermissionDenied,
    RateLimited,
    RedirectRefused,
    ServerError,
    UnexpectedResponse,
    ValidationFailed,
    VersionConflict,
)
from .models import HealthStatus, PingStatus, RawResponse, RootDocument
from .policy import _display
from .version import OctopusVersion

_MISSING_PERMISSION = re.compile(r"Missing permission:?\s*([A-Za-z][A-Za-z0-9]*)")
_CONCURRENCY = re.compile(
    r"another user has made changes|submitted data was out of date|modified by another"
    r"|concurrency|version conflict",
    re.IGNORECASE,
)
# Octopus's refusals share HTTP 400 (409 for a package that exists) and are told apart by
# their words, but only on the requests that can meet them: "already exists" on a new
# project is not a duplicate release. Checked in order, after the concurrency check.
_RELEASE_CREATE = r"/releases(/create/v1)?"
_DEPLOY_CREATE = r"/deployments(/create/(un)?tenanted/v1)?"
_RUNBOOK_CREATE = r"/(runbookSnapshots|runbookRuns|runbook-runs/create/v1)"


@dataclass(frozen=True)
class _Refusal:
    words: re.Pattern[str]
    paths: re.Pattern[str]  # matched against the end of a POST's path
    kind: type[ValidationFailed]
    advice: str


_REFUSALS = (
    _Refusal(
        re.compile(r"already exists|duplicate (release|version|package)", re.IGNORECASE),
        re.compile(f"(?:{_RELEASE_CREATE}|/packages/raw)$"),
        DuplicateVersion,
        "Choose another version, or push with OverwriteExisting or IgnoreIfExists.",
    ),
    _Refusal(
        re.compile(
            r"lifecycle|cannot be deployed|must (first )?be deployed|not in the list of "
            r"environments|phase",
            re.IGNORECASE,
        ),
        re.compile(f"{_DEPLOY_CREATE}$"),
        LifecycleRefused,
        "Deploy the release to the earlier phases of its lifecycle first, or use a "
        "channel whose lifecycle includes that environment.",
    ),
    _Refusal(
        re.compile(
            r"package\b.*\b(not found|could not be found|cannot be found|does not exist|"
            r"is missing|was not found)|(could not|unable to|cannot) (find|resolve) .*package"
            r"|no (matching )?package",
            re.IGNORECASE,
        ),
        re.compile(f"(?:{_RELEASE_CREATE}|{_DEPLOY_CREATE}|{_RUNBOOK_CREATE})$"),
        MissingPackage,
        "Push that package version to the feed first, or choose a version the feed has.",
    ),
)


def _refusal(status: int, words: str, where: Where) -> _Refusal | None:
    if where.method != "POST":
        return None
    for refusal in _REFUSALS:
        if refusal.paths.search(where.path) and (
            refusal.words.search(words) or (status == 409 and refusal.kind is DuplicateVersion)
        ):
            return refusal
    return None


@dataclass(frozen=True)
class Where:
    """Which request an answer belongs to, for messages (never includes the key)."""

    base_url: str
    method: str
    path: str

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"

    def ctx(self, status: int | None = None) -> dict[str, Any]:
        return {
            "base_url": self.base_url,
            "method": self.method,
            "path": self.path,
            "status_code": status,
        }


def retry_after_seconds(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """``Retry-After`` as seconds (delta or HTTP date); ``None`` if absent or unreadable."""
    value = (headers.get("retry-after") or "").strip()
    if not value:
        return None
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _clip(text: Any, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def error_body(raw: RawResponse) -> dict[str, Any]:
    """Octopus's ``{ErrorMessage, Errors, HelpText}`` if the body is that, else ``{}``."""
    if "json" not in raw.headers.get("content-type", "").lower():
        return {}
    try:
        body = _json.loads(raw.content)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def error_for(raw: RawResponse, where: Where) -> OctopusError:
    """Map a non-2xx answer to the matching typed error with a readable message."""
    status = raw.status_code
    body = error_body(raw)
    message = _clip(body["ErrorMessage"], 300).rstrip(". ") if body.get("ErrorMessage") else None
    errors = [_clip(e, 200) for e in body.get("Errors") or [] if e][:10]
    help_text = _clip(body["HelpText"], 300) if body.get("HelpText") else None
    said = f": {message}" if message else ""
    said += f" ({'; '.join(errors[:5])})" if errors else ""
    server = f"the Octopus server at {where.base_url}"
    upper = "T" + server[1:]
    http = {"error_message": message, "errors": errors, "help_text": help_text, **where.ctx(status)}
    if 300 <= status < 400:
        return _redirect(raw, where)
    if status == 401:
        return AuthenticationFailed(
            f"{upper} rejected the API key (HTTP 401 on {where.label}). The key "
            "may be wrong, expired or revoked, or its user disabled: create a new API key in "
            "Octopus and update it in ODCM.",
            **http,
        )
    if status == 403:
        return _forbidden(body, message, server, where, http)
    if status == 404:
        return NotFound(
            f"{where.label} found nothing on {server} (HTTP 404){said}. The item may have "
            "been deleted, or the id, space or server URL is wrong.",
            **http,
        )
    if status in (400, 409):
        return _invalid(status, said, message, errors, server, where, http)
    if status == 429:
        wait = retry_after_seconds(raw.headers)
        hint = f"; it asked to wait {wait:.0f} s" if wait is not None else ""
        return RateLimited(
            f"{upper} is rate-limiting ODCM (HTTP 429 on {where.label}){hint}. Try again later.",
            retry_after=wait,
            **http,
        )
    if status >= 500:
        return ServerError(
            f"{upper} failed with HTTP {status} on {where.label}{said}. The "
            "problem is on the server or a proxy in front of it: check the Octopus server "
            "logs, then retry.",
            **http,
        )
    return OctopusHTTPError(f"{upper} answered HTTP {status} to {where.label}{said}.", **http)


def _redirect(raw: RawResponse, where: Where) -> RedirectRefused:
    location = _display(raw.headers.get("location", "")) or "an unknown address"
    return RedirectRefused(
        f"The Octopus server at {where.base_url} answered {where.label} with a redirect "
        f"(HTTP {raw.status_code}) to {location}; ODCM never follows redirects. Use the "
        "final address (https, with any virtual directory) as the server URL.",
        location=location,
        **where.ctx(raw.status_code),
    )


def _forbidden(
    body: dict[str, Any], message: str | None, server: str, where: Where, http: dict[str, Any]
) -> PermissionDenied:
    found = _MISSING_PERMISSION.search(str(body.get("ErrorMessage") or ""))
    permission = found.group(1) if found else None
    what = (
        f"; missing permission: {permission}" if permission else (f": {message}" if message else "")
    )
    return PermissionDenied(
        f"The API key's user may not do {where.label} on {server} (HTTP 403{what}). Grant "
        "the permission to one of the user's teams in Octopus, or use the key of a user "
        "who has it.",
        missing_permission=permission,
        **http,
    )


def _invalid(
    status: int,
    said: str,
    message: str | None,
    errors: list[str],
    server: str,
    where: Where,
    http: dict[str, Any],
) -> ValidationFailed:
    upper = "T" + server[1:]
    if _CONCURRENCY.search(" ".join([message or "", *errors])):
        return VersionConflict(
            f"{upper} refused {where.label} because the document changed since "
            f"it was read (HTTP {status}{said}). Read it again, re-apply the change and "
            "save again.",
            **http,
        )
    refusal = _refusal(status, " ".join([message or "", *errors]), where)
    if refusal is not None:
        advice = refusal.advice
        return refusal.kind(
            f"{upper} refused {where.label} (HTTP {status}){said}. {advice}", **http
        )
    return ValidationFailed(
        f"{upper} refused {where.label} (HTTP {status}){said}. Correct the request and try again.",
        **http,
    )


def decode_json(raw: RawResponse, where: Where) -> Any:
    """The JSON body (``None`` when empty); HTML or invalid JSON means not Octopus."""
    if not raw.content.strip():
        return None
    ctype = raw.headers.get("content-type", "")
    problem = None
    if "json" not in ctype.lower():
        media = _clip(ctype.split(";", 1)[0], 60) or "(none)"
        problem = f"answered with content type {media} instead of JSON"
    else:
        try:
            return _json.loads(raw.content)
        except ValueError:
            problem = "answered with a body that is not valid JSON"
    raise NotAnOctopusServer(
        f"{where.base_url} does not look like an Octopus Deploy server: {where.label} "
        f"{problem}. Check the server URL (include the virtual directory if Octopus is "
        "hosted under one, for example https://host/octopus).",
        **where.ctx(raw.status_code),
    )


def parse_root(raw: RawResponse, where: Where) -> RootDocument:
    """Validate and parse the root document (``GET /api``)."""
    not_octopus = f"{where.base_url} does not look like an Octopus Deploy server: {where.label} "
    advice = (
        ". Check the server URL (include the virtual directory if Octopus is hosted under "
        "one, for example https://host/octopus)."
    )
    if raw.status_code == 404:
        raise NotAnOctopusServer(
            not_octopus + "found nothing (HTTP 404)" + advice, **where.ctx(404)
        )
    body = decode_json(raw, where)
    if not isinstance(body, dict) or not isinstance(body.get("Application"), str):
        raise NotAnOctopusServer(
            not_octopus + "returned JSON without an Application field" + advice,
            **where.ctx(raw.status_code),
        )
    try:
        version = OctopusVersion.parse(str(body.get("Version") or ""))
    except ValueError:
        version = None
    if version is None:
        raise UnexpectedResponse(
            f"The Octopus server at {where.base_url} reported an unreadable version "
            f"{_clip(body.get('Version'), 40)!r} in {where.label}.",
            **where.ctx(raw.status_code),
        )
    return RootDocument(
        application=body["Application"],
        version=version,
        api_version=body.get("ApiVersion"),
        installation_id=_uuid(body.get("InstallationId")),
        links=dict(body.get("Links") or {}),
        raw=body,
    )


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def parse_health(raw: RawResponse, where: Where) -> HealthStatus:
    body = decode_json(raw, where) or {}
    body = body if isinstance(body, dict) else {}
    healthy = raw.status_code == 200 and body.get("IsOperatingNormally", True) is not False
    description = str(body.get("Description") or "")
    return HealthStatus(status="ok" if healthy else "unhealthy", description=description, raw=body)


def parse_ping(raw: RawResponse, where: Where) -> PingStatus:
    body = decode_json(raw, where) or {}
    body = body if isinstance(body, dict) else {}
    return PingStatus(status="ok" if raw.status_code == 200 else "draining", raw=body)


def parse_collection(raw: RawResponse, where: Where) -> dict[str, Any]:
    """A ``ResourceCollection`` envelope (``Items`` list and ``Links``)."""
    body = decode_json(raw, where)
    if not isinstance(body, dict) or not isinstance(body.get("Items"), list):
        raise UnexpectedResponse(
            f"{where.label} on the Octopus server at {where.base_url} did not return a "
            "collection (no Items list).",
            **where.ctx(raw.status_code),
        )
    return body


def parse_count(raw: RawResponse, where: Where) -> int:
    body = parse_collection(raw, where)
    total = body.get("TotalResults")
    if not isinstance(total, int) or isinstance(total, bool) or total < 0:
        raise UnexpectedResponse(
            f"{where.label} on the Octopus server at {where.base_url} returned a collection "
            "without a TotalResults count.",
            **where.ctx(raw.status_code),
        )
    return total


def parse_array(raw: RawResponse, where: Where) -> list[Any]:
    body = decode_json(raw, where)
    if not isinstance(body, list):
        raise UnexpectedResponse(
            f"{where.label} on the Octopus server at {where.base_url} did not return a list.",
            **where.ctx(raw.status_code),
        )
    return body
