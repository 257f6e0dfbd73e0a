"""Outbound HTTP that is not an Octopus client, under the same outbound-URL policy.

Single sign-on makes ODCM fetch URLs an administrator configured (the provider's discovery
document, its keys, its token and userinfo endpoints). allauth makes those requests through
a ``requests`` session; :func:`policy_session` gives it one whose only transport is ODCM's
policy-checked httpx client (``octopus.make_http_client``): the URL is checked before the
request and every address the host resolves to is checked again at connect time. Redirects
are not followed and proxy variables are ignored, as for Octopus servers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from octopus import URLNotAllowed, make_http_client
from odcm.clients import url_policy

# Request headers httpx computes itself from the body; response headers that no longer
# describe the (already decoded) body.
_REQUEST_DROP = {"content-length", "transfer-encoding", "connection"}
_RESPONSE_DROP = {"content-encoding", "transfer-encoding", "content-length"}


class PolicyRefused(requests.exceptions.ConnectionError):
    """The URL is outside ODCM's outbound-URL policy; nothing was sent."""


def _timeout(value: Any) -> httpx.Timeout:
    if isinstance(value, tuple):
        return httpx.Timeout(value[1], connect=value[0])
    return httpx.Timeout(value if value is not None else 10.0)


class PolicyAdapter(BaseAdapter):
    """A ``requests`` transport that sends through the policy-checked httpx client."""

    def __init__(self) -> None:
        super().__init__()
        self._policy = url_policy()
        self._client = make_http_client(self._policy)

    def send(
        self, request: requests.PreparedRequest, stream: bool = False, timeout: Any = None,
        verify: Any = True, cert: Any = None, proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:  # fmt: skip
        url = str(request.url)
        parts = urlsplit(url)
        try:
            # The policy judges the server; an endpoint's query string is not part of that.
            self._policy.check_static(urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")))
            answer = self._client.request(
                str(request.method),
                url,
                headers={
                    k: v if isinstance(v, str) else v.decode("latin-1")
                    for k, v in request.headers.items()
                    if k.lower() not in _REQUEST_DROP
                },
                content=request.body,  # type: ignore[arg-type]
                timeout=_timeout(timeout),
            )
        except URLNotAllowed as exc:
            raise PolicyRefused(
                f"ODCM's outbound-URL policy refused {parts.scheme}://{parts.netloc}: {exc}",
                request=request,
            ) from None
        except httpx.TimeoutException as exc:
            raise requests.exceptions.Timeout(str(exc), request=request) from None
        except httpx.HTTPError as exc:
            raise requests.exceptions.ConnectionError(str(exc), request=request) from None
        return self._response(request, answer)

    @staticmethod
    def _response(request: requests.PreparedRequest, answer: httpx.Response) -> requests.Response:
        response = requests.Response()
        response.status_code = answer.status_code
        response.reason = answer.reason_phrase
        response.headers = CaseInsensitiveDict(
            {k: v for k, v in answer.headers.items() if k.lower() not in _RESPONSE_DROP}
        )
        response._content = answer.content
        response.encoding = answer.encoding
        response.url = str(request.url)
        response.request = request
        return response

    def close(self) -> None:
        self._client.close()


def policy_session() -> requests.Session:
    """A ``requests.Session`` whose every request passes the outbound-URL policy."""
    session = requests.Session()
    session.trust_env = False
    session.max_redirects = 0
    adapter = PolicyAdapter()
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session
