"""``Authorization: Bearer <token>`` authentication for the REST API."""

from __future__ import annotations

from typing import Any

from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from identity.services.tokens import TokenError, check_token
from odcm.clientip import client_ip


class BearerTokenAuthentication(BaseAuthentication):
    keyword = b"bearer"

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword:
            return None
        if len(header) != 2:
            raise AuthenticationFailed(
                "Malformed Authorization header: send 'Authorization: Bearer <token>'."
            )
        try:
            presented = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise AuthenticationFailed(
                "Malformed Authorization header: the token is not ASCII."
            ) from None
        try:
            token = check_token(presented, address=client_ip(request._request) or None)
        except TokenError as exc:
            raise AuthenticationFailed(str(exc)) from None
        user = token.user
        # identity.access narrows everything this user sees to the token's instances and
        # spaces: every endpoint filters through it.
        user.odcm_token = token  # type: ignore[attr-defined]
        return user, token

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="odcm"'
