"""Pure parts of the release-pipeline calls: multipart bodies, hashing, download sinks,
task polling decisions, refusal errors, path checks and the sync/async twins."""

from __future__ import annotations

import hashlib
import inspect
import io
import json
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from octopus import (
    AsyncOctopusClient,
    DuplicateVersion,
    LifecycleRefused,
    MissingPackage,
    OctopusClient,
    PollPolicy,
    TaskWaitTimedOut,
    URLPolicy,
    ValidationFailed,
    VersionConflict,
)
from octopus._atyped import AsyncPipelineCalls
from octopus._core import ClientCore, Flow, Send, Sleep
from octopus._responses import Where, error_for
from octopus._typed import PipelineCalls
from octopus.errors import NotFound
from octopus.models import RawResponse
from octopus.packages import Digests, DownloadSink, Hasher, MultipartUpload, PackageChanged
from octopus.pipeline import sp
from octopus.tasks import TaskStatus, TaskWaiter

from .conftest import FAST_RETRY, PlainServer

KEY = "API-UNITTESTKEY0000000000000"
POLICY = URLPolicy(allow_http=True, allowed_networks=["127.0.0.0/8"])
WHERE = Where("https://octopus.example.com", "POST", "/api/Spaces-1/releases/create/v1")


def core() -> ClientCore:
    return ClientCore("http://127.0.0.1:8080/", KEY, policy=POLICY)


def json_raw(status: int, body: Any) -> RawResponse:
    headers = httpx.Headers({"content-type": "application/json"})
    return RawResponse(status, headers, json.dumps(body).encode())


# -- multipart upload body ---------------------------------------------------------------


def test_multipart_body_wraps_the_file_in_one_named_part(tmp_path: Path) -> None:
    package = tmp_path / "Acme.Web.1.2.3.zip"
    package.write_bytes(b"PK\x03\x04 not really a zip")
    body = MultipartUpload(package, boundary="B0UND")
    sent = b"".join(body.chunks())
    assert sent == (
        b"--B0UND\r\n"
        b'Content-Disposition: form-data; name="fileToUpload"; filename="Acme.Web.1.2.3.zip"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n"
        b"PK\x03\x04 not really a zip"
        b"\r\n--B0UND--\r\n"
    )
    assert body.headers() == {
        "Content-Type": "multipart/form-data; boundary=B0UND",
        "Content-Length": str(len(sent)),
    }


def test_upload_hashes_exactly_the_file_bytes_and_starts_again_on_each_attempt(
    tmp_path: Path,
) -> None:
    data = bytes(range(256)) * 9000  # a little over two chunks
    package = tmp_path / "Acme.Web.1.2.3.zip"
    package.write_bytes(data)
    body = MultipartUpload(package)
    b"".join(body.chunks())
    b"".join(body.chunks())  # a retry reads and hashes the file again, not twice over
    assert body.sent().size == len(data)
    assert body.sent().sha1 == hashlib.sha1(data).hexdigest()
    assert body.sent().sha256 == hashlib.sha256(data).hexdigest()


def test_upload_from_an_open_file_starts_where_the_file_was(tmp_path: Path) -> None:
    handle = io.BytesIO(b"HEADERpayload")
    handle.seek(6)
    body = MultipartUpload(handle, file_name="Acme.1.0.0.tar.gz", boundary="b")
    assert body.size == 7
    assert b"".join(body.chunks()).count(b"payload") == 1
    assert b"HEADER" not in b"".join(body.chunks())


def test_upload_refuses_a_file_name_that_could_break_the_header(tmp_path: Path) -> None:
    for bad in ('a".1.0.0.zip', "dir/a.1.0.0.zip", "a.1.0.0.zip\r\nX: y", ""):
        with pytest.raises(ValueError, match="package file name"):
            MultipartUpload(io.BytesIO(b"x"), file_name=bad)


def test_upload_notices_a_file_that_shrank_while_it_was_sent(tmp_path: Path) -> None:
    package = tmp_path / "Acme.1.0.0.zip"
    package.write_bytes(b"x" * 100)
    body = MultipartUpload(package)
    package.write_bytes(b"x" * 10)
    with pytest.raises(PackageChanged):
        b"".join(body.chunks())


# -- download sink -------------------------------------------------------------------------


def test_download_to_a_path_appears_only_when_complete(tmp_path: Path) -> None:
    target = tmp_path / "out.zip"
    sink = DownloadSink(target)
    sink.begin()
    sink.feed(b"half")
    assert not target.exists()
    sink.begin()  # a retry starts again from the first byte
    sink.feed(b"whole ")
    sink.feed(b"package")
    result = sink.finish()
    assert target.read_bytes() == b"whole package"
    assert result.received.sha1 == hashlib.sha1(b"whole package").hexdigest()
    assert result.path == target
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.zip"]


def test_aborted_download_leaves_no_partial_file(tmp_path: Path) -> None:
    sink = DownloadSink(tmp_path / "out.zip")
    sink.begin()
    sink.feed(b"partial")
    sink.abort()
    assert list(tmp_path.iterdir()) == []


def test_seekable_file_is_rewound_for_a_retry_but_a_pipe_is_not() -> None:
    buffer = io.BytesIO()
    buffer.write(b"prefix:")
    sink = DownloadSink(buffer)
    sink.begin()
    sink.feed(b"broken")
    assert sink.restartable()
    sink.begin()
    sink.feed(b"good")
    sink.finish()
    assert buffer.getvalue() == b"prefix:good"

    class Pipe(io.RawIOBase):
        def writable(self) -> bool:
            return True

        def write(self, b: Any) -> int:
            return len(b)

    pipe_sink = DownloadSink(Pipe())  # type: ignore[arg-type]
    pipe_sink.begin()
    assert pipe_sink.restartable()  # nothing written yet
    pipe_sink.feed(b"bytes")
    assert not pipe_sink.restartable()


def test_hasher_matches_hashlib_for_chunked_input() -> None:
    hasher = Hasher()
    for part in (b"a", b"", b"bc" * 1000):
        hasher.feed(part)
    whole = b"a" + b"bc" * 1000
    assert hasher.digests().sha256 == hashlib.sha256(whole).hexdigest()
    assert hasher.digests().size == len(whole)


def test_a_download_sink_computes_only_the_digest_asked_for(tmp_path: Path) -> None:
    sink = DownloadSink(tmp_path / "out.zip", sha1=False)
    sink.begin()
    sink.feed(b"package bytes")
    got = sink.finish().received
    assert got.sha256 == hashlib.sha256(b"package bytes").hexdigest()
    assert got.sha1 == ""
    only_sha1 = Hasher(sha256=False)
    only_sha1.feed(b"abc")
    assert only_sha1.digests() == Digests(3, hashlib.sha1(b"abc").hexdigest(), "")


# -- refusals ------------------------------------------------------------------------------


RELEASES = "/api/Spaces-1/releases/create/v1"
DEPLOY = "/api/Spaces-1/deployments/create/untenanted/v1"


@pytest.mark.parametrize(
    ("path", "status", "message", "kind"),
    [
        (
            RELEASES,
            400,
            "Release '1.0.0' already exists for this project. Please use a different version, "
            "or look at using a mask to auto-increment the number.",
            DuplicateVersion,
        ),
        (
            "/api/Spaces-1/packages/raw",
            409,
            "A package with the same ID and version already exists: Acme.Web 1.0.0.",
            DuplicateVersion,
        ),
        ("/api/Spaces-1/packages/raw", 409, "Conflict", DuplicateVersion),
        (
            DEPLOY,
            400,
            "Release '1.0' of project 'Web' cannot be deployed to environment 'Production' "
            "because the environment is not in the list of environments that this release can "
            "be deployed to.",
            LifecycleRefused,
        ),
        (
            "/api/Spaces-1/deployments",
            400,
            "The lifecycle of this release does not allow deployments to Production yet.",
            LifecycleRefused,
        ),
        (
            "/api/Spaces-1/releases",
            400,
            "The package 'Acme.Web' version '9.9.9' could not be found in the feed "
            "'Octopus Server (built-in)'.",
            MissingPackage,
        ),
        (
            RELEASES,
            400,
            "Could not find package 'Acme.Web' version '9.9.9' in feed 'feeds-builtin'.",
            MissingPackage,
        ),
        (
            "/api/Spaces-1/deploymentprocesses/deploymentprocess-Projects-1",
            400,
            "Modification failed for 'DeploymentProcess' document with "
            "'deploymentprocess-Projects-1' Id because submitted data was out of date. "
            "Refresh the document and try again.",
            VersionConflict,
        ),
        (RELEASES, 400, "The Name field is required.", ValidationFailed),
        # The same words elsewhere are not these refusals.
        (
            "/api/Spaces-1/projects",
            400,
            "A project with this name already exists.",
            ValidationFailed,
        ),
        (
            "/api/Spaces-1/channels",
            400,
            "The lifecycle 'Lifecycles-9' does not exist.",
            ValidationFailed,
        ),
        ("/api/Spaces-1/feeds", 409, "Conflict", ValidationFailed),
    ],
)
def test_octopus_refusals_map_to_their_own_error_classes(
    path: str, status: int, message: str, kind: type[ValidationFailed]
) -> None:
    where = Where("https://octopus.example.com", "PUT" if "processes" in path else "POST", path)
    error = error_for(json_raw(status, {"ErrorMessage": message, "Errors": []}), where)
    assert type(error) is kind
    assert error.status_code == status
    assert error.error_message == message.rstrip(". ")
    assert isinstance(pickle.loads(pickle.dumps(error)), kind)


def test_refusal_in_the_errors_list_is_recognised_too() -> None:
    body = {
        "ErrorMessage": "There was a problem with your request.",
        "Errors": ["Release '2.0.0' already exists for this project."],
    }
    assert isinstance(error_for(json_raw(400, body), WHERE), DuplicateVersion)


# -- paths ---------------------------------------------------------------------------------


def test_ids_that_would_change_the_path_are_refused() -> None:
    assert sp("Spaces-1", "releases", "Releases-7") == "/api/Spaces-1/releases/Releases-7"
    for bad in ("../x", "a/b", "a?b=1", "", "a b", "a%2Fb", "a\\b", "a#b"):
        with pytest.raises(ValueError):
            sp("Spaces-1", "releases", bad)
    with pytest.raises(ValueError, match="space id"):
        sp("../Spaces-1", "releases")


# -- task polling ------------------------------------------------------------------------------


def drive(flow: Flow[Any], answer: Callable[[httpx.Request], RawResponse]) -> tuple[Any, list]:
    """Run a flow, answering each request with ``answer``; returns result and steps."""
    steps: list[Any] = []
    try:
        step = next(flow)
        while True:
            steps.append(step)
            if isinstance(step, Sleep):
                step = flow.send(None)
            else:
                assert isinstance(step, Send)
                step = flow.send(answer(step.request))
    except StopIteration as done:
        return done.value, steps


def task_doc(task_id: str, state: str, interrupted: bool = False) -> dict[str, Any]:
    final = state in ("Success", "Failed", "Canceled", "TimedOut")
    return {
        "Id": task_id,
        "State": state,
        "IsCompleted": final,
        "FinishedSuccessfully": state == "Success",
        "ErrorMessage": "boom" if state == "Failed" else "",
        "HasPendingInterruptions": interrupted,
    }


class FakeTasks:
    """Tasks that finish after a number of polls each; records every request."""

    def __init__(self, finish_after: dict[str, int], outcome: str = "Success") -> None:
        self.finish_after = finish_after
        self.outcome = outcome
        self.polls: dict[str, int] = dict.fromkeys(finish_after, 0)
        self.queries: list[dict[str, list[str]]] = []

    def __call__(self, request: httpx.Request) -> RawResponse:
        query = parse_qs(urlsplit(str(request.url)).query)
        self.queries.append(query)
        items = []
        for task_id in query["ids"][0].split(","):
            if task_id not in self.polls:
                continue
            self.polls[task_id] += 1
            done = self.polls[task_id] >= self.finish_after[task_id]
            items.append(task_doc(task_id, self.outcome if done else "Executing"))
        return json_raw(200, {"Items": items, "TotalResults": len(items), "Links": {}})


def test_waiting_asks_for_every_unfinished_task_in_one_request_and_backs_off() -> None:
    fake = FakeTasks({"ServerTasks-1": 1, "ServerTasks-2": 3, "ServerTasks-3": 4})
    policy = PollPolicy(initial=1.0, factor=2.0, maximum=3.0, jitter=0.0)
    waiter = TaskWaiter(core(), fake.polls, space="Spaces-1", policy=policy, clock=lambda: 0.0)
    result, steps = drive(waiter.flow(), fake)
    assert {k: v.state for k, v in result.items()} == dict.fromkeys(fake.polls, "Success")
    asked = [q["ids"][0].split(",") for q in fake.queries]
    assert asked == [
        ["ServerTasks-1", "ServerTasks-2", "ServerTasks-3"],
        ["ServerTasks-2", "ServerTasks-3"],
        ["ServerTasks-2", "ServerTasks-3"],
        ["ServerTasks-3"],
    ]
    # Octopus pages lists (30 by default): take must cover every id asked for.
    assert [q["take"] for q in fake.queries] == [["3"], ["2"], ["2"], ["1"]]
    assert [s.seconds for s in steps if isinstance(s, Sleep)] == [1.0, 2.0, 3.0]
    assert all(
        str(s.request.url.path) == "/api/Spaces-1/tasks" for s in steps if isinstance(s, Send)
    )


def test_many_tasks_are_polled_in_batches_that_keep_the_url_short() -> None:
    ids = {f"ServerTasks-{n}": 1 for n in range(250)}
    fake = FakeTasks(ids)
    waiter = TaskWaiter(core(), ids, policy=PollPolicy(batch=100), clock=lambda: 0.0)
    result, _ = drive(waiter.flow(), fake)
    assert len(result) == 250
    assert [len(q["ids"][0].split(",")) for q in fake.queries] == [100, 100, 50]
    assert waiter.requests == 3 and waiter.rounds == 1


def test_failed_tasks_end_the_wait_with_their_error() -> None:
    fake = FakeTasks({"ServerTasks-9": 2}, outcome="Failed")
    waiter = TaskWaiter(core(), ["ServerTasks-9"], clock=lambda: 0.0)
    result, _ = drive(waiter.flow(), fake)
    status = result["ServerTasks-9"]
    assert status.is_completed and not status.finished_successfully
    assert status.error_message == "boom"


def test_waiting_gives_up_at_the_timeout_with_what_it_saw() -> None:
    now = [0.0]

    def answer(request: httpx.Request) -> RawResponse:
        now[0] += 4.0  # every round takes four seconds
        items = [task_doc("ServerTasks-1", "Queued")]
        return json_raw(200, {"Items": items, "TotalResults": 1, "Links": {}})

    policy = PollPolicy(initial=1.0, timeout=10.0, jitter=0.0)
    waiter = TaskWaiter(core(), ["ServerTasks-1"], policy=policy, clock=lambda: now[0])
    with pytest.raises(TaskWaitTimedOut) as caught:
        drive(waiter.flow(), answer)
    assert caught.value.statuses["ServerTasks-1"].state == "Queued"
    assert "still running after 10 s" in str(caught.value)


def test_waiting_until_interrupted_stops_at_a_manual_intervention() -> None:
    def answer(request: httpx.Request) -> RawResponse:
        items = [task_doc("ServerTasks-4", "Executing", interrupted=True)]
        return json_raw(200, {"Items": items, "TotalResults": 1, "Links": {}})

    waiter = TaskWaiter(core(), ["ServerTasks-4"], until_interrupted=True, clock=lambda: 0.0)
    result, steps = drive(waiter.flow(), answer)
    assert result["ServerTasks-4"].has_pending_interruptions
    assert not any(isinstance(s, Sleep) for s in steps)


def test_a_task_the_server_does_not_know_is_not_found() -> None:
    def answer(request: httpx.Request) -> RawResponse:
        return json_raw(200, {"Items": [], "TotalResults": 0, "Links": {}})

    with pytest.raises(NotFound, match="ServerTasks-404"):
        drive(TaskWaiter(core(), ["ServerTasks-404"]).flow(), answer)


def test_poll_policy_refuses_nonsense() -> None:
    for bad in ({"initial": 0}, {"factor": 0.5}, {"maximum": 0.1}, {"batch": 0}):
        with pytest.raises(ValueError):
            PollPolicy(**bad)


def test_task_status_reads_a_task_without_is_completed() -> None:
    status = TaskStatus.from_resource({"Id": "ServerTasks-1", "State": "Canceled"})
    assert status.is_completed and not status.finished_successfully


# -- the two clients ---------------------------------------------------------------------------


def test_async_client_has_every_typed_call_of_the_sync_client_with_the_same_signature() -> None:
    def calls(cls: type) -> dict[str, inspect.Signature]:
        return {
            name: inspect.signature(member)
            for name, member in vars(cls).items()
            if inspect.isfunction(member) and not name.startswith("_")
        }

    sync, asyn = calls(PipelineCalls), calls(AsyncPipelineCalls)
    assert issubclass(OctopusClient, PipelineCalls)
    assert issubclass(AsyncOctopusClient, AsyncPipelineCalls)
    assert len(sync) > 50 and sync.keys() == asyn.keys()
    for name, signature in sync.items():
        assert str(signature) == str(asyn[name]), name
        assert inspect.iscoroutinefunction(getattr(AsyncOctopusClient, name)), name


def test_a_server_without_the_executions_api_gets_a_404_that_says_so(
    plain_server: PlainServer,
) -> None:
    with OctopusClient(plain_server.url, KEY, policy=POLICY, retry=FAST_RETRY) as c:
        with pytest.raises(NotFound, match="older than Octopus 2022.3") as caught:
            c.create_release_v1("Spaces-1", "Web", version="1.0.0")
        assert caught.value.__context__ is None and caught.value.status_code == 404
        with pytest.raises(NotFound, match="executions API"):
            c.deploy_release_v1("Spaces-1", "Web", "1.0.0", ["Dev"])
        with pytest.raises(NotFound, match="executions API"):
            c.run_runbook_v1("Spaces-1", "Web", "Restart", ["Dev"])
        with pytest.raises(NotFound) as classic:
            c.release("Spaces-1", "Releases-1")
        assert "executions API" not in str(classic.value)
