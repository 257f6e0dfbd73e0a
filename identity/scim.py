"""SCIM 2.0 provisioning (RFC 7643/7644) of users and groups, for Entra ID, Okta and others.

``/scim/v2/Users`` and ``/scim/v2/Groups`` (list with ``filter=<attr> eq "<value>"``,
``startIndex``/``count``; create; read; replace; ``PATCH`` add/replace/remove; delete) and
``/scim/v2/ServiceProviderConfig``. The client authenticates with an ODCM API token
(``Authorization: Bearer``) of an administrator, typically a service account's; a token limited
to areas must include ``access``, and a read-only token may only read.

Deprovisioning (``active: false`` or ``DELETE`` of a user) deactivates the person everywhere
(``identity.services.people.deactivate``: sessions, tokens, managed Octopus teams); the account
and its history stay. Errors use SCIM's own error body, as RFC 7644 §3.12 requires (the one
deviation from ODCM's API error body).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any
from uuid import UUID

from django.contrib.auth.decorators import login_not_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from audit.services import record
from identity import access
from identity.models import Group, User
from identity.services import create_group, delete_group, update_group
from identity.services.people import PeopleError, deactivate
from identity.services.tokens import TokenError, check_token
from odcm.clientip import client_ip
from odcm.errors import ServiceError

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
CONTENT_TYPE = "application/scim+json"
FILTER = re.compile(r'^\s*(\w+(?:\.\w+)?)\s+eq\s+"([^"]*)"\s*$', re.IGNORECASE)
MAX_COUNT = 200


class ScimError(Exception):
    def __init__(self, status: int, detail: str, scim_type: str | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.scim_type = status, detail, scim_type


def _json(data: Any, status: int = 200) -> JsonResponse:
    return JsonResponse(data, status=status, content_type=CONTENT_TYPE)


def _error(exc: ScimError) -> JsonResponse:
    body: dict[str, Any] = {"schemas": [ERROR], "status": str(exc.status), "detail": exc.detail}
    if exc.scim_type:
        body["scimType"] = exc.scim_type
    return _json(body, exc.status)


def _caller(request: HttpRequest) -> Any:
    """The administrator whose token is presented, within the token's scope."""
    header = request.headers.get("Authorization", "")
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer" or not presented:
        raise ScimError(401, "Send an ODCM API token: Authorization: Bearer <token>.")
    try:
        token = check_token(presented.strip(), address=client_ip(request) or None)
    except TokenError as exc:
        raise ScimError(401, str(exc)) from None
    if token.areas and "access" not in token.areas:
        raise ScimError(403, "This API token is not allowed in the access area.")
    if request.method not in ("GET", "HEAD") and token.read_only:
        raise ScimError(403, "This API token is read-only.")
    if not access.is_admin(token.user):
        raise ScimError(403, "SCIM provisioning needs an administrator's token.")
    return token.user


def _body(request: HttpRequest) -> dict[str, Any]:
    try:
        data = json.loads(request.body or b"{}")
    except ValueError:
        raise ScimError(400, "The body is not JSON.", "invalidSyntax") from None
    if not isinstance(data, dict):
        raise ScimError(400, "The body must be a JSON object.", "invalidSyntax")
    return data


def _page(request: HttpRequest, rows: list[dict[str, Any]]) -> dict[str, Any]:
    try:
        start = max(1, int(request.GET.get("startIndex", 1)))
        count = min(MAX_COUNT, max(0, int(request.GET.get("count", 100))))
    except ValueError:
        raise ScimError(400, "startIndex and count must be integers.", "invalidValue") from None
    shown = rows[start - 1 : start - 1 + count]
    return {
        "schemas": [LIST],
        "totalResults": len(rows),
        "startIndex": start,
        "itemsPerPage": len(shown),
        "Resources": shown,
    }


def _filter(request: HttpRequest, allowed: dict[str, str]) -> dict[str, str]:
    raw = request.GET.get("filter")
    if not raw:
        return {}
    match = FILTER.match(raw)
    if match is None or match.group(1) not in allowed:
        raise ScimError(
            400, f'Only {" or ".join(allowed)} eq "…" filters are supported.', "invalidFilter"
        )
    return {allowed[match.group(1)] + "__iexact": match.group(2)}


# ------------------------------------------------------------------ users


def _user(user: User) -> dict[str, Any]:
    return {
        "schemas": [USER],
        "id": str(user.uuid),
        "userName": user.username,
        "name": {"givenName": user.first_name, "familyName": user.last_name},
        "displayName": user.get_full_name() or user.username,
        "emails": [{"value": user.email, "primary": True}] if user.email else [],
        "active": user.is_active,
        "groups": [
            {"value": str(g.pk), "display": g.name} for g in user.odcm_groups.order_by("name")
        ],
        "meta": {"resourceType": "User", "location": f"/scim/v2/Users/{user.uuid}"},
    }


def _find_user(ident: str) -> User:
    try:
        return User.objects.get(uuid=UUID(ident))
    except (ValueError, User.DoesNotExist):
        raise ScimError(404, f"User {ident} not found.") from None


def _apply_user(user: User, data: dict[str, Any]) -> bool | None:
    """Copy SCIM attributes onto ``user``; the wanted ``active`` (None: not given)."""
    if "userName" in data:
        name = str(data["userName"] or "").strip()
        if not name or len(name) > 150:
            raise ScimError(400, "userName is required (at most 150 characters).", "invalidValue")
        clash = User.objects.filter(username__iexact=name).exclude(pk=user.pk).exists()
        if clash:
            raise ScimError(409, f"userName {name!r} is taken.", "uniqueness")
        user.username = name
    names = data.get("name")
    if isinstance(names, dict):
        user.first_name = str(names.get("givenName") or "")[:150]
        user.last_name = str(names.get("familyName") or "")[:150]
    emails = data.get("emails")
    if isinstance(emails, list) and emails:
        primary = next((e for e in emails if isinstance(e, dict) and e.get("primary")), emails[0])
        if isinstance(primary, dict):
            user.email = str(primary.get("value") or "")[:254]
    active = data.get("active")
    if active is not None and not isinstance(active, bool):
        raise ScimError(400, "active must be true or false.", "invalidValue")
    return active


def _set_active(user: User, active: bool | None, actor: Any, request: HttpRequest) -> None:
    if active is False and user.is_active:
        try:
            deactivate(user, actor=actor, request=request)
        except PeopleError as exc:
            raise ScimError(400, str(exc), "mutability") from None
    elif active is True and not user.is_active:
        User.objects.filter(pk=user.pk).update(is_active=True)


def users(request: HttpRequest) -> HttpResponse:
    actor = _caller(request)
    if request.method == "GET":
        rows = User.objects.filter(
            service_account__isnull=True,
            **_filter(request, {"userName": "username", "emails.value": "email"}),
        ).order_by("username")
        return _json(_page(request, [_user(u) for u in rows.prefetch_related("odcm_groups")]))
    if request.method != "POST":
        raise ScimError(405, "Use GET or POST.")
    data = _body(request)
    if "userName" not in data:
        raise ScimError(400, "userName is required.", "invalidValue")
    with transaction.atomic():
        user = User()
        active = _apply_user(user, data)
        user.set_unusable_password()  # people provisioned by SCIM sign in through SSO
        user.save()
        record("user.scim_create", actor=actor, request=request, obj=user)
    _set_active(user, active, actor, request)
    user.refresh_from_db()
    return _json(_user(user), 201)


def user_detail(request: HttpRequest, ident: str) -> HttpResponse:
    actor = _caller(request)
    user = _find_user(ident)
    if request.method == "GET":
        return _json(_user(user))
    if request.method == "DELETE":
        _set_active(user, False, actor, request)
        return HttpResponse(status=204)
    if request.method == "PUT":
        data = _body(request)
    elif request.method == "PATCH":
        data = _patched(_body(request), _user(user))
    else:
        raise ScimError(405, "Use GET, PUT, PATCH or DELETE.")
    with transaction.atomic():
        active = _apply_user(user, data)
        user.save()
    _set_active(user, active, actor, request)
    user.refresh_from_db()
    return _json(_user(user))


def _patched(body: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    """A PatchOp on simple attributes, applied to the resource's current representation."""
    if PATCH not in body.get("schemas", []) or not isinstance(body.get("Operations"), list):
        raise ScimError(400, "A PATCH body is a PatchOp with Operations.", "invalidSyntax")
    data = dict(current)
    for op in body["Operations"]:
        kind = str(op.get("op", "")).lower() if isinstance(op, dict) else ""
        path, value = op.get("path"), op.get("value")
        if kind not in ("add", "replace", "remove"):
            raise ScimError(400, "op must be add, replace or remove.", "invalidSyntax")
        if path is None and isinstance(value, dict):
            data.update(value)
        elif path in ("active", "userName", "displayName") and kind != "remove":
            data[str(path)] = value
        else:
            raise ScimError(400, f"Unsupported PATCH path {path!r}.", "invalidPath")
    return data


# ------------------------------------------------------------------ groups


def _group(group: Group) -> dict[str, Any]:
    return {
        "schemas": [GROUP],
        "id": str(group.pk),
        "displayName": group.name,
        "members": [
            {"value": str(u.uuid), "display": u.username}
            for u in group.members.order_by("username")
        ],
        "meta": {"resourceType": "Group", "location": f"/scim/v2/Groups/{group.pk}"},
    }


def _members(values: Any) -> list[User]:
    if not isinstance(values, list):
        raise ScimError(400, "members must be a list.", "invalidValue")
    ids = [str(m.get("value", "")) if isinstance(m, dict) else "" for m in values]
    try:
        return [_find_user(i) for i in ids]
    except ScimError as exc:  # an unknown member is bad input, not a missing resource
        raise ScimError(400, exc.detail, "invalidValue") from None


def _find_group(ident: str) -> Group:
    try:
        return Group.objects.get(pk=UUID(ident))
    except (ValueError, Group.DoesNotExist):
        raise ScimError(404, f"Group {ident} not found.") from None


def groups(request: HttpRequest) -> HttpResponse:
    actor = _caller(request)
    if request.method == "GET":
        rows = Group.objects.filter(**_filter(request, {"displayName": "name"})).order_by("name")
        return _json(_page(request, [_group(g) for g in rows.prefetch_related("members")]))
    if request.method != "POST":
        raise ScimError(405, "Use GET or POST.")
    data = _body(request)
    name = str(data.get("displayName") or "").strip()
    if not name:
        raise ScimError(400, "displayName is required.", "invalidValue")
    if Group.objects.filter(name__iexact=name).exists():
        raise ScimError(409, f"Group {name!r} exists.", "uniqueness")
    group = create_group(
        name=name, members=_members(data.get("members", [])), actor=actor, request=request
    )
    return _json(_group(group), 201)


def group_detail(request: HttpRequest, ident: str) -> HttpResponse:
    actor = _caller(request)
    group = _find_group(ident)
    if request.method == "GET":
        return _json(_group(group))
    if request.method == "DELETE":
        delete_group(group, actor=actor, request=request)
        return HttpResponse(status=204)
    members = list(group.members.all())
    name = group.name
    if request.method == "PUT":
        data = _body(request)
        name = str(data.get("displayName") or name)
        members = _members(data.get("members", []))
    elif request.method == "PATCH":
        name, members = _patch_group(_body(request), name, members)
    else:
        raise ScimError(405, "Use GET, PUT, PATCH or DELETE.")
    update_group(group, name=name, members=members, actor=actor, request=request)
    group.refresh_from_db()
    return _json(_group(group))


def _patch_group(body: dict[str, Any], name: str, members: list[User]) -> tuple[str, list[User]]:
    if PATCH not in body.get("schemas", []) or not isinstance(body.get("Operations"), list):
        raise ScimError(400, "A PATCH body is a PatchOp with Operations.", "invalidSyntax")
    current = {u.pk: u for u in members}
    for op in body["Operations"]:
        kind = str(op.get("op", "")).lower() if isinstance(op, dict) else ""
        path = str(op.get("path") or "")
        value = op.get("value")
        if path == "members" and kind == "add":
            current.update({u.pk: u for u in _members(value)})
        elif path == "members" and kind == "replace":
            current = {u.pk: u for u in _members(value)}
        elif path == "members" and kind == "remove" and value is None:
            current = {}
        elif path == "members" and kind == "remove":
            for u in _members(value):
                current.pop(u.pk, None)
        elif kind == "remove" and (m := re.match(r'^members\[value eq "([^"]+)"\]$', path)):
            current.pop(_find_user(m.group(1)).pk, None)
        elif path == "displayName" and kind in ("add", "replace") and isinstance(value, str):
            name = value
        elif not path and kind in ("add", "replace") and isinstance(value, dict):
            name = str(value.get("displayName") or name)
        else:
            raise ScimError(400, f"Unsupported PATCH operation {kind} {path!r}.", "invalidPath")
    return name, list(current.values())


def service_provider_config(request: HttpRequest) -> HttpResponse:
    _caller(request)
    return _json(
        {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
            "patch": {"supported": True},
            "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
            "filter": {"supported": True, "maxResults": MAX_COUNT},
            "changePassword": {"supported": False},
            "sort": {"supported": False},
            "etag": {"supported": False},
            "authenticationSchemes": [
                {
                    "type": "oauthbearertoken",
                    "name": "ODCM API token",
                    "description": "Authorization: Bearer <an administrator's API token>",
                }
            ],
        }
    )


def endpoint(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Token authentication only (no cookies, so no CSRF), SCIM error bodies."""

    @csrf_exempt
    @login_not_required
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except ScimError as exc:
            return _error(exc)
        except ServiceError as exc:
            return _error(ScimError(400, exc.message, "invalidValue"))

    wrapper.__name__ = view.__name__
    return wrapper
