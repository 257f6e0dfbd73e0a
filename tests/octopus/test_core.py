"""Pure parts of the client: versions, secrets, retry decisions, paths, error mapping."""

from __future__ import annotations

import pickle

import httpx
import pytest

from octopus import (
    AuthenticationFailed,
    NotAnOctopusServer,
    OctopusVersion,
    PermissionDenied,
    RateLimited,
    RetryPolicy,
    Secret,
    ServerError,
    URLPolicy,
    ValidationFailed,
    VersionConflict,
    parse_version,
)
from octopus._core import ClientCore, Failure, encode_params
from octopus._responses import Where, decode_json, error_for, retry_after_seconds
from octopus.errors import NotFound, RedirectRefused, ServerUnavailable, UnexpectedResponse
from octopus.models import RawResponse

KEY = "API-UNITTESTKEY0000000000000"
POLICY = URLPolicy(allow_http=True, allowed_networks=["127.0.0.0/8"])


def core(**kwargs) -> ClientCore:
    return ClientCore("http://127.0.0.1:8080/octo/", KEY, policy=POLICY, **kwargs)


def raw(
    status: int,
    body: bytes = b"",
    ctype: str = "application/json",
    *,
    retry_after: str | None = None,
    location: str | None = None,
) -> RawResponse:
    headers = {"content-type": ctype}
    if retry_after is not None:
        headers["retry-after"] = retry_after
    if location is not None:
        headers["location"] = location
    return RawResponse(status, httpx.Headers(headers), body)


WHERE = Where("https://octopus.example.com", "PUT", "/api/Spaces-1/variables/x")


# -- versions ---------------------------------------------------------------------------


def test_versions_parse_and_compare() -> None:
    assert parse_version("2024.4.1234").numbers == (2024, 4, 1234)
    rc = parse_version("2020.5.0-rc0001")
    assert rc.is_prerelease and rc.prerelease == "rc0001"
    assert rc < "2020.5.0" < "2020.5.1" < "2024.4.1234"
    assert parse_version("3.17.4") < "2018.1"
    assert parse_version("2021.1") == "2021.1.0"
    assert parse_version("2020.5.0-rc0001") < "2020.5.0-rc0002"
    assert parse_version("2024.4.1234").major == 2024
    assert str(parse_version("2020.5.0-rc0001")) == "2020.5.0-rc0001"
    assert (
        sorted(["2024.1.1", "3.17.4", "2020.5.0-rc0001", "2020.5.0"], key=OctopusVersion.parse)[0]
        == "3.17.4"
    )
    with pytest.raises(ValueError, match="not an Octopus version"):
        parse_version("latest")


# -- secrets ----------------------------------------------------------------------------


def test_secret_never_shows_its_value() -> None:
    secret = Secret(KEY)
    for text in (repr(secret), str(secret), f"{secret}", f"{secret!r}", str([secret])):
        assert KEY not in text
    assert secret.reveal() == KEY
    assert secret == Secret(KEY)
    with pytest.raises(TypeError):
        pickle.dumps(secret)


def test_client_core_requires_a_key_and_masks_it_in_headers_repr() -> None:
    with pytest.raises(ValueError, match="API key is required"):
        ClientCore("https://octopus.example.com", "", policy=POLICY)
    request = core().build_request(core().call("GET", "spaces"))
    assert request.headers["X-Octopus-ApiKey"] == KEY
    assert KEY not in repr(request.headers) and KEY not in repr(request)
    assert KEY not in str(request.url)


# -- paths and params -------------------------------------------------------------------


def test_paths_join_the_virtual_directory() -> None:
    c = core()
    assert c.base_url == "http://127.0.0.1:8080/octo"
    assert c.call("GET", "spaces").url == "http://127.0.0.1:8080/octo/api/spaces"
    assert c.call("GET", "/api/spaces").url == "http://127.0.0.1:8080/octo/api/spaces"
    assert c.call("GET", "/api").url == "http://127.0.0.1:8080/octo/api"
    for bad in ("https://evil.example/api", "//evil/api", "/api/../../x", "/api/spaces?take=1"):
        with pytest.raises(ValueError):
            c.call("GET", bad)


def test_params_use_octopus_encoding() -> None:
    assert encode_params({"ids": ["a", "b"], "includeSystem": True, "skip": 0, "x": None}) == (
        ("ids", "a,b"),
        ("includeSystem", "true"),
        ("skip", "0"),
    )


def test_links_with_or_without_the_virtual_directory_are_followed() -> None:
    c = core()
    where = Where(c.base_url, "GET", "/api/spaces")
    for link in (
        "/octo/api/spaces?skip=30&take=30",
        "/api/spaces?skip=30&take=30",
        "~/api/spaces?skip=30&take=30",
        "http://127.0.0.1:8080/octo/api/spaces?skip=30&take=30",
    ):
        call = c.follow_link(link, where)
        assert call.url == "http://127.0.0.1:8080/octo/api/spaces", link
        assert dict(call.params) == {"skip": "30", "take": "30"}
    with pytest.raises(UnexpectedResponse, match="another server"):
        c.follow_link("https://evil.example/api/spaces", where)


# -- retry decisions --------------------------------------------------------------------


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    low = core(rng=lambda: 0.0, retry=RetryPolicy(backoff=0.5, max_backoff=4))
    high = core(rng=lambda: 1.0, retry=RetryPolicy(backoff=0.5, max_backoff=4))
    assert [low.backoff(a) for a in range(5)] == [0.25, 0.5, 1.0, 2.0, 2.0]
    assert [high.backoff(a) for a in range(5)] == [0.5, 1.0, 2.0, 4.0, 4.0]


def test_which_answers_are_retried() -> None:
    c = core(rng=lambda: 0.0)
    get, post = c.call("GET", "spaces"), c.call("POST", "spaces", json={})
    for status in (429, 502, 503, 504):
        assert c.retry_delay(get, raw(status), 0) is not None
    for status in (400, 401, 403, 404, 409, 418, 500):
        assert c.retry_delay(get, raw(status), 0) is None
    assert c.retry_delay(get, raw(503), 3) is None  # retries used up
    assert c.retry_delay(post, raw(429), 0) is not None
    for status in (502, 503, 504):
        assert c.retry_delay(post, raw(status), 0) is None
    unreachable = Failure(ServerUnavailable("x"), retryable=True, maybe_sent=False)
    timed_out = Failure(ServerUnavailable("x"), retryable=True, maybe_sent=True)
    assert c.retry_delay(post, unreachable, 0) is not None
    assert c.retry_delay(post, timed_out, 0) is None
    assert c.retry_delay(get, timed_out, 0) is not None
    assert c.retry_delay(c.call("POST", "x", idempotent=True), timed_out, 0) is not None


def test_retry_after_is_honoured_up_to_a_limit() -> None:
    c = core(rng=lambda: 0.0, retry=RetryPolicy(max_retry_after=10))
    get = c.call("GET", "spaces")
    assert c.retry_delay(get, raw(429, retry_after="2"), 0) == 2.0
    assert c.retry_delay(get, raw(503, retry_after="3"), 0) == 3.0
    assert c.retry_delay(get, raw(429, retry_after="30"), 0) is None
    assert retry_after_seconds({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0
    assert retry_after_seconds({"retry-after": "soon"}) is None


# -- error mapping ----------------------------------------------------------------------


def test_status_codes_map_to_typed_errors_with_octopus_details() -> None:
    body = (
        b'{"ErrorMessage": "There was a problem with your request.",'
        b' "Errors": ["Name is required."]}'
    )
    invalid = error_for(raw(400, body), WHERE)
    assert type(invalid) is ValidationFailed and invalid.errors == ["Name is required."]
    assert "Name is required." in str(invalid) and "octopus.example.com" in str(invalid)
    conflict = error_for(
        raw(
            400,
            b'{"ErrorMessage": "x", "Errors": ["Changes to these variables could not be '
            b"saved, because another user has made changes to the variables between when you "
            b'started editing and when you saved your changes."]}',
        ),
        WHERE,
    )
    assert isinstance(conflict, VersionConflict) and "changed since it was read" in str(conflict)
    forbidden = error_for(
        raw(
            403,
            b'{"ErrorMessage": "You do not have permission to perform this action. '
            b'Missing permission: VariableEdit", "HelpText": "..."}',
        ),
        WHERE,
    )
    assert isinstance(forbidden, PermissionDenied)
    assert forbidden.missing_permission == "VariableEdit" and "VariableEdit" in str(forbidden)
    assert isinstance(error_for(raw(401), WHERE), AuthenticationFailed)
    assert isinstance(error_for(raw(404, b"<html>", "text/html"), WHERE), NotFound)
    assert isinstance(
        error_for(raw(502, b"<html>bad gateway</html>", "text/html"), WHERE), ServerError
    )
    limited = error_for(raw(429, retry_after="120"), WHERE)
    assert isinstance(limited, RateLimited) and limited.retry_after == 120
    moved = error_for(raw(302, location="https://sso.example/login?token=abc"), WHERE)
    assert isinstance(moved, RedirectRefused) and "token=abc" not in str(moved)


def test_html_answer_means_not_an_octopus_server() -> None:
    with pytest.raises(NotAnOctopusServer, match="text/html instead of JSON"):
        decode_json(raw(200, b"<html></html>", "text/html; charset=utf-8"), WHERE)
    with pytest.raises(NotAnOctopusServer, match="not valid JSON"):
        decode_json(raw(200, b"{nope", "application/json"), WHERE)


def test_errors_survive_pickling() -> None:
    error = error_for(raw(403, b'{"ErrorMessage": "Missing permission: SpaceCreate"}'), WHERE)
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is PermissionDenied and str(copy) == str(error)
    assert copy.missing_permission == "SpaceCreate" and copy.status_code == 403
