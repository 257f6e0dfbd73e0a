"""Sans-IO flows for the release pipeline: packages, processes, variables, channels,
lifecycles, releases and their snapshots, deployments.

Each function returns a :data:`Flow` that the sync or async client runs (see
``_typed.py`` and ``_atyped.py``); the paths and the shape of every answer live here
once. Documents an Octopus user edits and saves back (processes, variable sets,
channels, lifecycles) stay plain dicts so they round-trip unchanged.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from . import _responses as responses
from ._core import Call, ClientCore, Flow, Params
from .errors import NotFound, UnexpectedResponse
from .models import RawResponse
from .packages import (
    OVERWRITE_MODES,
    Destination,
    DownloadSink,
    MultipartUpload,
    PackageDownload,
    PackageUpload,
)

Doc = dict[str, Any]


def seg(value: str, what: str = "id") -> str:
    """One path segment (an id or a space); anything that could change the path is refused."""
    text = str(value)
    if not text or any(c in text for c in "/?#\\%") or not text.isprintable() or " " in text:
        raise ValueError(f"{text!r} is not a usable {what}")
    return text


def sp(space: str, *parts: str) -> str:
    """``/api/{space}/a/b``, every part checked as one segment."""
    return "/api/" + "/".join([seg(space, "space id"), *(seg(p) for p in parts)])


# -- generic flows ---------------------------------------------------------------------


def executions_api(core: ClientCore, call: Call) -> Flow[RawResponse]:
    """Send a call of the executions API (``.../create/v1``, Octopus 2022.3 and later);
    a 404 says which of the two likely reasons applies rather than "deleted"."""
    missing: NotFound | None = None
    try:
        return (yield from core.plan(call))
    except NotFound as exc:
        missing = exc
    raise NotFound(
        f"{call.where.label} found nothing on the Octopus server at {core.base_url} (HTTP "
        "404). Either the space does not exist, or the server is older than Octopus 2022.3 "
        "and has no executions API: use the classic calls (create_release, "
        "create_deployment, run_runbook) there.",
        error_message=missing.error_message,
        errors=missing.errors,
        **call.where.ctx(404),
    )


def get_json(core: ClientCore, path: str, params: Params | None = None) -> Flow[Any]:
    call = core.call("GET", path, params=params)
    raw = yield from core.plan(call)
    return responses.decode_json(raw, call.where)


def send_json(
    core: ClientCore,
    method: str,
    path: str,
    body: Any = None,
    *,
    params: Params | None = None,
    idempotent: bool | None = None,
) -> Flow[Any]:
    call = core.call(method, path, params=params, json=body, idempotent=idempotent)
    raw = yield from core.plan(call)
    return responses.decode_json(raw, call.where)


def get_doc(core: ClientCore, path: str, params: Params | None = None) -> Flow[Doc]:
    call = core.call("GET", path, params=params)
    raw = yield from core.plan(call)
    return as_doc(responses.decode_json(raw, call.where), call.where)


def send_doc(
    core: ClientCore, method: str, path: str, body: Any, *, params: Params | None = None
) -> Flow[Doc]:
    call = core.call(method, path, params=params, json=body)
    raw = yield from core.plan(call)
    return as_doc(responses.decode_json(raw, call.where), call.where)


def as_doc(body: Any, where: responses.Where) -> Doc:
    if not isinstance(body, dict):
        raise UnexpectedResponse(
            f"{where.label} on the Octopus server at {where.base_url} did not return a "
            "JSON object.",
            **where.ctx(),
        )
    return body


def collect(
    core: ClientCore, path: str, params: Params | None = None, page_size: int = 100
) -> Flow[list[Doc]]:
    """Every item of a paged collection (following ``Page.Next``)."""
    pager = core.pager(path, params, page_size)
    items: list[Doc] = []
    while pager.next_call is not None:
        raw = yield from core.plan(pager.next_call)
        items.extend(pager.take(raw))
    return items


def save(core: ClientCore, space: str, kind: str, doc: Mapping[str, Any]) -> Flow[Doc]:
    """PUT a whole document back to ``{kind}/{doc['Id']}`` (``Version`` included)."""
    if not doc.get("Id"):
        raise ValueError(f"the {kind} document has no Id; read it from Octopus first")
    return send_doc(core, "PUT", sp(space, kind, str(doc["Id"])), dict(doc))


def delete(core: ClientCore, path: str) -> Flow[None]:
    call = core.call("DELETE", path)
    yield from core.plan(call)
    return None


# -- packages (built-in feed) ----------------------------------------------------------


def upload_package(
    core: ClientCore,
    space: str,
    source: str | os.PathLike[str] | BinaryIO | MultipartUpload,
    *,
    file_name: str | None = None,
    overwrite_mode: str = "FailIfExists",
) -> Flow[PackageUpload]:
    """Stream ``source`` to ``packages/raw``; the SHA-1 is checked against Octopus's
    ``Hash`` unless ``IgnoreIfExists`` kept an older package. ``source`` may be a body
    already built (a :class:`StreamedUpload` of bytes relayed from elsewhere)."""
    if overwrite_mode not in OVERWRITE_MODES:
        raise ValueError(f"overwrite_mode must be one of {', '.join(OVERWRITE_MODES)}")
    if isinstance(source, MultipartUpload):
        body = source
    else:
        body = MultipartUpload(source, file_name=file_name)
    call = core.call(
        "POST",
        sp(space, "packages", "raw"),
        params={"overwriteMode": overwrite_mode},
        upload=body,
        idempotent=False,
    )
    raw = yield from core.plan(call)
    result = PackageUpload(as_doc(responses.decode_json(raw, call.where), call.where), body.sent())
    if result.server_sha1 and not result.verified and overwrite_mode != "IgnoreIfExists":
        raise UnexpectedResponse(
            f"The Octopus server at {core.base_url} stored {body.file_name} with SHA-1 "
            f"{result.server_sha1}, but ODCM sent bytes with SHA-1 {result.sent.sha1}. The "
            "package was damaged on the way; push it again.",
            **call.where.ctx(raw.status_code),
        )
    return result


def download_package(
    core: ClientCore,
    space: str,
    package_id: str,
    destination: Destination,
    *,
    expected_sha1: str | None = None,
) -> Flow[PackageDownload]:
    """Stream ``packages/{id}/raw`` into ``destination`` (a path is written atomically)."""
    sink = DownloadSink(destination)
    call = core.call("GET", sp(space, "packages", package_id, "raw"), download=sink)
    try:
        yield from core.plan(call)
        received = sink.received()
        if expected_sha1 and received.sha1 != expected_sha1.lower():
            raise UnexpectedResponse(
                f"{call.where.label} on the Octopus server at {core.base_url} sent bytes "
                f"with SHA-1 {received.sha1}, not the package's "
                f"{expected_sha1.lower()}; the download was discarded.",
                **call.where.ctx(200),
            )
    except BaseException:
        sink.abort()
        raise
    return sink.finish()


def packages(
    core: ClientCore, space: str, *, filter: str | None = None, latest: bool = False
) -> Flow[list[Doc]]:
    params = {"filter": filter, "latest": latest or None}
    return collect(core, sp(space, "packages"), params)


def package_versions(
    core: ClientCore, space: str, feed_id: str, package_id: str, *, take: int = 100
) -> Flow[list[Doc]]:
    """Newest versions first; the built-in feed is ``feeds-builtin``."""
    path = sp(space, "feeds", feed_id, "packages", "versions")
    body = yield from get_doc(core, path, {"packageId": package_id, "take": take})
    return list(body.get("Items") or [])


# -- releases, snapshots, deployments ---------------------------------------------------


@dataclass(frozen=True)
class ReleaseCreated:
    """What the executions API answers to ``releases/create/v1``."""

    release_id: str
    version: str
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class ReleaseSnapshots:
    """The frozen deployment process and variable sets a release was created with."""

    deployment_process: Doc
    project_variables: Doc
    library_variables: list[Doc]


def project_releases(
    core: ClientCore, space: str, project_id: str, *, search_by_version: str | None = None
) -> Flow[list[Doc]]:
    path = sp(space, "projects", project_id, "releases")
    return collect(core, path, {"searchByVersion": search_by_version})


def create_release_v1(
    core: ClientCore,
    space: str,
    project: str,
    *,
    channel: str | None = None,
    version: str | None = None,
    package_version: str | None = None,
    packages: Sequence[str] = (),
    release_notes: str | None = None,
    ignore_if_exists: bool = False,
    ignore_channel_rules: bool = False,
) -> Flow[ReleaseCreated]:
    """``releases/create/v1`` by project and channel *name*; ``packages`` are
    ``"Step:Version"`` or ``"Step:Package:Version"``."""
    body: Doc = {
        "SpaceIdOrName": space,
        "ProjectName": project,
        "ChannelName": channel,
        "ReleaseVersion": version,
        "PackageVersion": package_version,
        "Packages": list(packages),
        "ReleaseNotes": release_notes,
        "IgnoreIfAlreadyExists": ignore_if_exists,
        "IgnoreChannelRules": ignore_channel_rules,
    }
    call = core.call(
        "POST",
        sp(space, "releases", "create", "v1"),
        json={k: v for k, v in body.items() if v is not None},
    )
    raw = yield from executions_api(core, call)
    answer = as_doc(responses.decode_json(raw, call.where), call.where)
    if not answer.get("ReleaseId"):
        raise UnexpectedResponse(
            f"{call.where.label} on the Octopus server at {core.base_url} did not return a "
            "ReleaseId.",
            **call.where.ctx(raw.status_code),
        )
    return ReleaseCreated(str(answer["ReleaseId"]), str(answer.get("ReleaseVersion") or ""), answer)


def release_snapshots(
    core: ClientCore, space: str, release: Mapping[str, Any]
) -> Flow[ReleaseSnapshots]:
    """Fetch the snapshots a release document points at."""
    process_id = release.get("ProjectDeploymentProcessSnapshotId")
    variables_id = release.get("ProjectVariableSetSnapshotId")
    if not process_id or not variables_id:
        raise ValueError("the release has no snapshot ids; read it from Octopus first")
    process = yield from get_doc(core, sp(space, "deploymentprocesses", str(process_id)))
    variables = yield from get_doc(core, sp(space, "variables", str(variables_id)))
    library: list[Doc] = []
    for set_id in release.get("LibraryVariableSetSnapshotIds") or []:
        library.append((yield from get_doc(core, sp(space, "variables", str(set_id)))))
    return ReleaseSnapshots(process, variables, library)
