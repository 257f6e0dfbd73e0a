"""Client behaviour over real HTTP against a plain loopback server (not Octopus)."""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import threading
import time
import traceback

import pytest

from octopus import (
    AsyncOctopusClient,
    NotAnOctopusServer,
    OctopusClient,
    RedirectRefused,
    ResponseTooLarge,
    RetryPolicy,
    ServerError,
    TLSError,
    UnexpectedResponse,
    URLNotAllowed,
    URLPolicy,
)
from octopus._net import READ_BYTES, PolicyNetworkBackend

from .conftest import (
    API_KEY,
    FAST_RETRY,
    LOOPBACK,
    SHORT,
    PlainServer,
    TLSMaterial,
    json_reply,
)

HTML = (200, {"Content-Type": "text/html; charset=utf-8"}, b"<html><body>Welcome</body></html>")


def sync_client(url: str, **kwargs) -> OctopusClient:
    kwargs.setdefault("policy", LOOPBACK)
    kwargs.setdefault("retry", FAST_RETRY)
    return OctopusClient(url, API_KEY, timeouts=SHORT, **kwargs)


def run_async(url: str, action, **kwargs):
    kwargs.setdefault("policy", LOOPBACK)

    async def main():
        async with AsyncOctopusClient(
            url, API_KEY, retry=FAST_RETRY, timeouts=SHORT, **kwargs
        ) as client:
            return await action(client)

    return asyncio.run(main())


def test_html_site_is_not_an_octopus_server(plain_server: PlainServer) -> None:
    plain_server.routes["/api"] = lambda: HTML
    with sync_client(plain_server.url) as client, pytest.raises(NotAnOctopusServer) as caught:
        client.root()
    message = str(caught.value)
    assert "does not look like an Octopus Deploy server" in message
    assert "text/html" in message and plain_server.url in message
    with pytest.raises(NotAnOctopusServer):
        run_async(plain_server.url, lambda c: c.root())


def test_json_without_application_field_is_not_an_octopus_server(
    plain_server: PlainServer,
) -> None:
    plain_server.routes["/api"] = lambda: json_reply(200, {"name": "some other API"})
    with (
        sync_client(plain_server.url) as client,
        pytest.raises(NotAnOctopusServer, match="without an Application field"),
    ):
        client.root()


def test_missing_root_document_is_not_an_octopus_server(plain_server: PlainServer) -> None:
    with (
        sync_client(plain_server.url + "/wrongdir") as client,
        pytest.raises(NotAnOctopusServer, match="found nothing"),
    ):
        client.root()
    assert plain_server.hits("/wrongdir/api") == 1


def test_redirects_are_never_followed(plain_server: PlainServer) -> None:
    plain_server.routes["/api"] = lambda: (302, {"Location": f"{plain_server.url}/login?t=1"}, b"")
    plain_server.routes["/login"] = lambda: json_reply(200, {"Application": "Octopus Deploy"})
    with sync_client(plain_server.url) as client, pytest.raises(RedirectRefused) as caught:
        client.root()
    assert "never follows redirects" in str(caught.value) and "t=1" not in str(caught.value)
    with pytest.raises(RedirectRefused):
        run_async(plain_server.url, lambda c: c.root())
    assert plain_server.hits("/login") == 0
    assert plain_server.hits("/api") == 2  # a redirect is not retried


def test_declared_oversized_body_is_refused_unread(plain_server: PlainServer) -> None:
    big = b'{"Items": [' + b",".join([b'"xxxxxxxxxx"'] * 20_000) + b"]}"
    plain_server.routes["/api/big"] = lambda: (200, {"Content-Type": "application/json"}, big)
    with (
        sync_client(plain_server.url, max_response_bytes=100_000) as client,
        pytest.raises(ResponseTooLarge, match="larger than ODCM's limit"),
    ):
        client.get("big")
    with pytest.raises(ResponseTooLarge):
        run_async(plain_server.url, lambda c: c.get("big"), max_response_bytes=100_000)
    with sync_client(plain_server.url, max_response_bytes=1_000_000) as client:
        assert len(client.get("big")["Items"]) == 20_000
    assert plain_server.hits("/api/big") == 3  # never retried


def test_streamed_oversized_body_is_cut_off(plain_server: PlainServer) -> None:
    # No Content-Length: the limit must hold while streaming (chunked encoding).
    chunk = b"x" * 4096
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(100)) + b"0\r\n\r\n"
    plain_server.routes["/api/stream"] = lambda: (
        200,
        {"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        body,
    )
    with (
        sync_client(plain_server.url, max_response_bytes=50_000) as client,
        pytest.raises(ResponseTooLarge),
    ):
        client.get("stream")
    with pytest.raises(ResponseTooLarge):
        run_async(plain_server.url, lambda c: c.get("stream"), max_response_bytes=50_000)


def test_key_goes_in_the_header_never_the_url(plain_server: PlainServer) -> None:
    plain_server.routes["/api"] = lambda: json_reply(
        200, {"Application": "Octopus Deploy", "Version": "2024.4.1234"}
    )
    with sync_client(plain_server.url) as client:
        client.root()
    run_async(plain_server.url, lambda c: c.root())
    assert len(plain_server.seen) == 2
    for _, path, _, key_ok in plain_server.seen:
        assert API_KEY not in path and "apikey" not in path.lower()
        assert key_ok


def test_connect_time_check_catches_dns_rebinding(plain_server: PlainServer) -> None:
    # The first lookup (static/form check) sees loopback; later lookups "rebind" to a
    # metadata address. The connection must be refused, not made.
    answers = iter([["127.0.0.1"]] + [["169.254.169.254"]] * 10)
    policy = URLPolicy(
        allow_http=True, allowed_networks=["127.0.0.0/8"], resolver=lambda h: next(answers)
    )
    url = f"http://rebind.test:{plain_server.port}"
    policy.check(url)
    with sync_client(url, policy=policy) as client, pytest.raises(URLNotAllowed) as caught:
        client.root()
    assert "169.254.169.254" in str(caught.value) and "always refused" in str(caught.value)
    with pytest.raises(URLNotAllowed):
        run_async(url, lambda c: c.root(), policy=policy)
    assert plain_server.seen == []


def test_transports_connect_to_the_checked_address(plain_server: PlainServer) -> None:
    # "octopus.test" exists only in the policy's resolver: reaching the server proves
    # the transports connect to the address the policy checked, not a second lookup.
    plain_server.routes["/api"] = lambda: json_reply(
        200, {"Application": "Octopus Deploy", "Version": "2024.4.1234"}
    )
    policy = URLPolicy(
        allow_http=True, allowed_networks=["127.0.0.0/8"], resolver=lambda h: ["127.0.0.1"]
    )
    url = f"http://octopus.test:{plain_server.port}"
    with sync_client(url, policy=policy) as client:
        assert client.root().version == "2024.4.1234"
    assert run_async(url, lambda c: c.root(), policy=policy).version == "2024.4.1234"
    assert plain_server.seen[0][2]["Host"] == f"octopus.test:{plain_server.port}"


def test_api_key_never_appears_in_errors_reprs_tracebacks_or_logs(
    plain_server: PlainServer, caplog: pytest.LogCaptureFixture
) -> None:
    plain_server.routes["/api"] = lambda: json_reply(
        401, {"ErrorMessage": "You must be logged in", "Errors": []}
    )
    plain_server.routes["/api/flaky"] = lambda: json_reply(503, {"ErrorMessage": "busy"})
    caplog.set_level(logging.DEBUG)
    errors: list[Exception] = []
    texts: list[str] = []
    for action in (lambda c: c.root(), lambda c: c.get("flaky")):
        with sync_client(plain_server.url) as client:
            texts += [repr(client), str(client)]
            try:
                action(client)
            except Exception as exc:  # noqa: BLE001 - every error is inspected below
                errors.append(exc)
        try:
            run_async(plain_server.url, action)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
    try:
        sync_client("http://127.0.0.1:1").root()
    except Exception as exc:  # noqa: BLE001
        errors.append(exc)
    assert len(errors) == 5
    for error in errors:
        assert error.__context__ is None and error.__cause__ is None
        texts += [str(error), repr(error), *traceback.format_exception(error)]
        texts += traceback.TracebackException.from_exception(error, capture_locals=True).format()
    texts += [record.getMessage() for record in caplog.records]
    texts += [repr(record.__dict__) for record in caplog.records]
    assert any("Retrying GET /api/flaky" in t for t in texts)  # the logs were captured
    assert not [t for t in texts if API_KEY in t]


def sequence(*replies):
    """A route that answers with each reply in turn, then repeats the last one."""
    queue = list(replies)

    def route():
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return route


def test_gateway_errors_are_retried_for_reads(plain_server: PlainServer) -> None:
    ok = json_reply(200, {"Items": [], "TotalResults": 0, "Links": {}})
    plain_server.routes["/api/things"] = sequence(
        json_reply(502, {}), (503, {"Content-Type": "text/html"}, b"down"), json_reply(504, {}), ok
    )
    retry = RetryPolicy(max_retries=3, backoff=0.01, max_backoff=0.02)
    with sync_client(plain_server.url, retry=retry) as client:
        assert client.get("things")["TotalResults"] == 0
    assert plain_server.hits("/api/things") == 4


def test_gateway_errors_are_not_retried_for_posts(plain_server: PlainServer) -> None:
    plain_server.routes["/api/things"] = lambda: json_reply(502, {})
    with sync_client(plain_server.url) as client, pytest.raises(ServerError) as caught:
        client.post("things", {"Name": "x"})
    assert caught.value.status_code == 502
    assert plain_server.hits("/api/things") == 1
    plain_server.seen.clear()
    with sync_client(plain_server.url) as client, pytest.raises(ServerError):
        client.post("things", {"Name": "x"}, idempotent=True)
    assert plain_server.hits("/api/things") == 3  # the caller vouched it is safe to repeat


def test_gateway_errors_give_up_after_the_retry_budget(plain_server: PlainServer) -> None:
    plain_server.routes["/api/things"] = lambda: json_reply(503, {"ErrorMessage": "Maintenance"})
    with pytest.raises(ServerError, match="HTTP 503 on GET /api/things: Maintenance"):
        run_async(plain_server.url, lambda c: c.get("things"))
    assert plain_server.hits("/api/things") == 1 + FAST_RETRY.max_retries


def _tls_policy() -> URLPolicy:
    return URLPolicy(allowed_networks=["127.0.0.0/8"], resolver=lambda host: ["127.0.0.1"])


def _root_route(server: PlainServer) -> None:
    server.routes["/api"] = lambda: json_reply(
        200, {"Application": "Octopus Deploy", "Version": "2024.4.1234"}
    )


def test_tls_verifies_the_certificate_for_the_host_name(
    tls_server: PlainServer, tls_material: TLSMaterial
) -> None:
    # The transports connect to the checked IP, yet verify the certificate (and send SNI)
    # for the name in the URL.
    _root_route(tls_server)
    trusted = ssl.create_default_context(cadata=tls_material.ca_pem.decode())
    url = f"https://octopus.test:{tls_server.port}"
    with sync_client(url, policy=_tls_policy(), verify=trusted) as client:
        assert client.root().version == "2024.4.1234"
    root = run_async(url, lambda c: c.root(), policy=_tls_policy(), verify=trusted)
    assert root.version == "2024.4.1234"


def test_untrusted_certificate_is_a_tls_error_and_not_retried(tls_server: PlainServer) -> None:
    _root_route(tls_server)
    url = f"https://octopus.test:{tls_server.port}"
    with sync_client(url, policy=_tls_policy()) as client, pytest.raises(TLSError) as caught:
        client.root()
    assert "certificate verify failed" in str(caught.value) and url in str(caught.value)
    with pytest.raises(TLSError, match="certificate verify failed"):
        run_async(url, lambda c: c.root(), policy=_tls_policy())
    assert tls_server.seen == []


def test_certificate_for_another_name_is_a_tls_error(
    tls_server: PlainServer, tls_material: TLSMaterial
) -> None:
    _root_route(tls_server)
    trusted = ssl.create_default_context(cadata=tls_material.ca_pem.decode())
    url = f"https://imposter.test:{tls_server.port}"
    with (
        sync_client(url, policy=_tls_policy(), verify=trusted) as client,
        pytest.raises(TLSError, match="certificate verify failed"),
    ):
        client.root()
    with pytest.raises(TLSError):
        run_async(url, lambda c: c.root(), policy=_tls_policy(), verify=trusted)
    assert tls_server.seen == []


def test_a_new_client_loads_no_ca_bundle_once_the_process_has_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Loading the CA bundle costs ~16 ms of CPU; a poll round built one client per instance
    # and each loaded it again (inside httpx's own transport) though its pool used the
    # process's shared context.
    OctopusClient("https://octopus.test", API_KEY).close()
    loaded: list[object] = []
    real = ssl.SSLContext.load_verify_locations

    class Counting(ssl.SSLContext):
        def load_verify_locations(self, *args: object, **kwargs: object) -> None:
            loaded.append(args or kwargs)
            real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ssl, "SSLContext", Counting)
    for _ in range(3):
        OctopusClient("https://octopus.test", API_KEY).close()
    assert loaded == []


def test_count_falls_back_to_take_1_when_take_0_is_refused(plain_server: PlainServer) -> None:
    def things() -> tuple[int, dict[str, str], bytes]:
        query = plain_server.seen[-1][1]
        if "take=0" in query:
            return json_reply(400, {"ErrorMessage": "take must be positive", "Errors": []})
        return json_reply(200, {"Items": [{"Id": "T-1"}], "TotalResults": 42, "Links": {}})

    plain_server.routes["/api/things"] = things
    with sync_client(plain_server.url) as client:
        assert client.count("things", partialName="x") == 42
        assert client.count("things") == 42  # remembered: no second take=0 attempt
    queries = [path for _, path, _, _ in plain_server.seen]
    assert queries == [
        "/api/things?partialName=x&skip=0&take=0",
        "/api/things?partialName=x&skip=0&take=1",
        "/api/things?skip=0&take=1",
    ]


def test_paging_loop_is_detected(plain_server: PlainServer) -> None:
    plain_server.routes["/api/loop"] = lambda: json_reply(
        200, {"Items": [1], "Links": {"Page.Next": "/api/loop?skip=0&take=1"}}
    )
    with (
        sync_client(plain_server.url) as client,
        pytest.raises(UnexpectedResponse, match="went round in a loop"),
    ):
        list(client.paginate("loop", {"skip": 0}, page_size=1))
    assert plain_server.hits("/api/loop") == 1


def test_paging_never_follows_a_link_to_another_server(plain_server: PlainServer) -> None:
    plain_server.routes["/api/things"] = lambda: json_reply(
        200, {"Items": [1], "Links": {"Page.Next": "http://127.0.0.2:9/api/things?skip=1"}}
    )

    async def collect(client: AsyncOctopusClient) -> list[object]:
        return [item async for item in client.paginate("things")]

    with pytest.raises(UnexpectedResponse, match="link to another server"):
        run_async(plain_server.url, collect)


def test_a_connection_reads_and_sends_big_pieces_unchanged() -> None:
    """Sync connections read what the socket holds up to READ_BYTES at a time (httpcore
    asks for 64 KiB: a GiB relayed cost 16,000 passes through httpcore and h11), and send
    a big buffer whole however the socket takes it."""
    data = bytes(range(256)) * (12 * 1024)  # 3 MiB
    with socket.create_server(("127.0.0.1", 0)) as server:
        backend = PolicyNetworkBackend(URLPolicy(allow_http=True, allowed_networks=["127.0.0.0/8"]))
        stream = backend.connect_tcp("127.0.0.1", server.getsockname()[1], timeout=5)
        peer, _ = server.accept()
        with peer:
            received = bytearray()
            sender = threading.Thread(target=stream.write, args=(data, 10))
            sender.start()
            while len(received) < len(data):
                received += peer.recv(1 << 20)
            sender.join()
            assert bytes(received) == data
            peer.sendall(data)
            time.sleep(0.2)  # all of it waiting in the socket
            first = stream.read(64 * 1024, timeout=5)
            assert 64 * 1024 < len(first) <= READ_BYTES
            while len(first) < len(data):
                first += stream.read(64 * 1024, timeout=5)
            assert first == data
        stream.close()
