"""Signing in to an instance through an OpenID Connect provider (Octopus's Okta provider,
``authentication-od``, the one that takes any issuer, a client secret and a role claim).

What Octopus does, and octosim with it:

- the provider's settings are a configuration section: ``GET /api/configuration`` lists it,
  ``GET|PUT /api/configuration/authentication-od/values`` read and write it (``IsEnabled``,
  ``Issuer``, ``ClientId``, ``ClientSecret`` as a sensitive value, ``Scope``,
  ``NameClaimType``, ``UsernameClaimType``, ``RoleClaimType``, ``AllowAutoUserCreation``);
  writing needs ``AdministerSystem``;
- ``GET /api/authentication`` lists the enabled providers for the sign-in page;
- ``POST /api/users/authenticate/Okta`` starts a sign-in: a fresh state, nonce and PKCE
  verifier, and the provider's authorization URL (``response_type=code``,
  ``response_mode=form_post``), read from the issuer's discovery document;
- the provider posts the code to ``POST /api/users/authenticatedToken/Okta``: octosim checks the
  state against the browser's cookie, exchanges the code (client secret and verifier), checks
  the id_token's signature against the issuer's JWKS, its ``iss``, ``aud``, ``exp`` and
  ``nonce``, finds the user by the provider's ``sub`` (else by email; else creates one when
  auto user creation is on), stores the claimed groups (``RoleClaimType``) with the user
  (``permissions.external_groups_of``: teams whose external security groups match let them
  in), and sets the session cookie;
- a browser session reads the API with the user's own permissions (``server._context``).

Deliberate deviations are listed in docs/octosim.md (the HTML sign-in page stands in for the
web portal, ``LoginLinkLabel``, browser sessions may only read).
"""

from __future__ import annotations

import base64
import hashlib
import html
import secrets
import time
from typing import Any
from urllib.parse import urlencode, urlsplit

import aiohttp
import jwt
from aiohttp import web

from octosim import _json as jsonio
from octosim import resources as R
from octosim.errors import ApiError, invalid, not_found
from octosim.instance import Instance
from octosim.paging import envelope
from octosim.routing import Ctx, Reply, Router
from octosim.state import Doc, InstanceState, now

SECTION = "authentication-od"
PROVIDER = "Okta"
AUTHENTICATE = f"/api/users/authenticate/{PROVIDER}"
CALLBACK = f"/api/users/authenticatedToken/{PROVIDER}"
SESSION_COOKIE = "OctopusIdentificationToken"
CSRF_COOKIE = "Octopus-Csrf-Token"
PENDING_COOKIE = "Octopus-OIDC-Pending"
SESSION_SECONDS = 12 * 3600
PENDING_SECONDS = 600
HTTP_TIMEOUT = aiohttp.ClientTimeout(total=15)
WRITABLE = (
    "IsEnabled", "Issuer", "ClientId", "Scope", "NameClaimType", "UsernameClaimType",
    "RoleClaimType", "AllowAutoUserCreation", "LoginLinkLabel",
)  # fmt: skip


# ---------------------------------------------------------------- configuration section


def _section(st: InstanceState) -> Doc:
    config = st.sys("configuration")
    if SECTION not in config:
        config[SECTION] = {
            "Id": SECTION,
            "IsEnabled": False,
            "Issuer": None,
            "ClientId": None,
            "ClientSecret": None,  # stored in clear here; rendered as a sensitive value
            "Scope": "openid profile email",
            "NameClaimType": "name",
            "UsernameClaimType": "preferred_username",
            "RoleClaimType": "groups",
            "AllowAutoUserCreation": True,
            "LoginLinkLabel": f"Sign in with {PROVIDER}",
            "LastModifiedOn": None,
            "LastModifiedBy": None,
        }
    return config[SECTION]


def _render_section(doc: Doc) -> Doc:
    out = {k: v for k, v in doc.items() if k != "ClientSecret"}
    out["ClientSecret"] = {"HasValue": bool(doc.get("ClientSecret")), "NewValue": None}
    out["Links"] = {"Self": f"/api/configuration/{SECTION}/values"}
    return out


# Octopus's built-in providers are configuration sections too, with ``IsEnabled`` only in
# octosim (Octopus's UsernamePasswordConfigurationStore has SingletonId
# "authentication-usernamepassword"; the guest provider's is "authentication-guest").
SIMPLE_SECTIONS = {
    "authentication-usernamepassword": ("Username/Password", True),
    "authentication-guest": ("Guest Login", False),
}


def _simple(st: InstanceState, ident: str) -> Doc:
    config = st.sys("configuration")
    if ident not in config:
        config[ident] = {
            "Id": ident,
            "IsEnabled": SIMPLE_SECTIONS[ident][1],
            "LastModifiedOn": None,
            "LastModifiedBy": None,
        }
    return config[ident]


def _section_item(ident: str, name: str, description: str) -> Doc:
    return {
        "Id": ident,
        "Name": name,
        "Description": description,
        "LastModifiedOn": None,
        "LastModifiedBy": None,
        "Links": {
            "Self": f"/api/configuration/{ident}",
            "Values": f"/api/configuration/{ident}/values",
        },
    }


def list_configuration(ctx: Ctx) -> Reply:
    items = [_section_item(SECTION, PROVIDER, "Sign in to your Octopus Server with Okta.")]
    items += [
        _section_item(ident, name, f"{name} authentication.")
        for ident, (name, _on) in SIMPLE_SECTIONS.items()
    ]
    return 200, envelope(
        items, ctx.query, item_type="ConfigurationSectionMetadata", path="/api/configuration",
        template="/api/configuration{/id}", render=lambda d: d,
    )  # fmt: skip


def _known_section(ctx: Ctx) -> Doc:
    if ctx.params["id"].lower() != SECTION:
        raise not_found()
    return _section(ctx.st)


def _simple_values(doc: Doc) -> Doc:
    return {**doc, "Links": {"Self": f"/api/configuration/{doc['Id']}/values"}}


def get_values(ctx: Ctx) -> Reply:
    ident = ctx.params["id"].lower()
    if ident in SIMPLE_SECTIONS:
        return 200, _simple_values(_simple(ctx.st, ident))
    return 200, _render_section(_known_section(ctx))


def _put_simple(ctx: Ctx, ident: str) -> Reply:
    body = ctx.json_body()
    if not isinstance(body.get("IsEnabled"), bool):
        raise invalid("The IsEnabled field must be true or false.")
    doc = _simple(ctx.st, ident)
    doc["IsEnabled"] = body["IsEnabled"]
    R.stamp(doc, ctx.username, now())
    return 200, _simple_values(doc)


def _check_issuer(value: Any) -> str:
    parts = urlsplit(str(value or ""))
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise invalid("The Issuer must be an absolute http(s) URL.")
    return str(value).rstrip("/")


def put_values(ctx: Ctx) -> Reply:
    ident = ctx.params["id"].lower()
    if ident in SIMPLE_SECTIONS:
        return _put_simple(ctx, ident)
    doc = _known_section(ctx)
    body = ctx.json_body()
    changed = {k: body[k] for k in WRITABLE if k in body}
    for flag in ("IsEnabled", "AllowAutoUserCreation"):
        if flag in changed and not isinstance(changed[flag], bool):
            raise invalid(f"The {flag} field must be true or false.")
    for text in (k for k in WRITABLE if k not in ("IsEnabled", "AllowAutoUserCreation")):
        if text in changed and changed[text] is not None and not isinstance(changed[text], str):
            raise invalid(f"The {text} field must be a string.")
    if changed.get("Issuer"):
        changed["Issuer"] = _check_issuer(changed["Issuer"])
    secret = body.get("ClientSecret")
    if secret is not None and not isinstance(secret, dict):
        raise invalid("The ClientSecret field must be a sensitive value.")
    merged = {**doc, **changed}
    if merged["IsEnabled"] and not (merged.get("Issuer") and merged.get("ClientId")):
        raise invalid("The Issuer and ClientId are required when the provider is enabled.")
    doc.update(changed)
    if isinstance(secret, dict) and isinstance(secret.get("NewValue"), str):
        doc["ClientSecret"] = secret["NewValue"]
    elif isinstance(secret, dict) and secret.get("HasValue") is False:
        doc["ClientSecret"] = None
    R.stamp(doc, ctx.username, now())
    return 200, _render_section(doc)


def get_authentication(ctx: Ctx) -> Reply:
    providers: list[Doc] = []
    if _simple(ctx.st, "authentication-usernamepassword")["IsEnabled"]:
        providers.append(
            {
                "Name": "Octopus",
                "IdentityType": "UsernamePassword",
                "FormsLoginEnabled": True,
                "Links": {},
                "CSSLinks": [],
                "JavascriptLinks": [],
            }
        )
    if _simple(ctx.st, "authentication-guest")["IsEnabled"]:
        providers.append(
            {
                "Name": "Guest",
                "IdentityType": "Guest",
                "FormsLoginEnabled": True,
                "Links": {},
                "CSSLinks": [],
                "JavascriptLinks": [],
            }
        )
    if _section(ctx.st)["IsEnabled"]:
        providers.append(
            {
                "Name": PROVIDER,
                "IdentityType": "OAuth",
                "FormsLoginEnabled": False,
                "Links": {"Authenticate": AUTHENTICATE},
                "CSSLinks": [],
                "JavascriptLinks": [],
            }
        )
    return 200, {
        "Id": "authentication",
        "AnyAuthenticationProvidersSupportPasswordManagement": True,
        "AuthenticationProviders": providers,
        "AutoLoginEnabled": False,
        "LastModifiedOn": None,
        "LastModifiedBy": None,
        "Links": {"Self": "/api/authentication"},
    }


def register(router: Router) -> None:
    router.system("GET", "/authentication", get_authentication, auth=False)
    router.system("GET", "/configuration", list_configuration)
    router.system(
        "GET", "/configuration/{id}/values", get_values,
        swagger="/api/configuration/{id}/values",
    )  # fmt: skip
    router.system(
        "PUT", "/configuration/{id}/values", put_values,
        swagger="/api/configuration/{id}/values", permission="AdministerSystem",
    )  # fmt: skip


# ---------------------------------------------------------------- sessions


def session_user(inst: Instance, request: web.Request) -> str | None:
    """The user a browser session cookie signs in, if it is current and the user active."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    sessions = inst.state.sys("sessions")
    digest = hashlib.sha256(token.encode()).hexdigest()
    found = sessions.get(digest)
    if found is None or found["ExpiresAt"] < time.time():
        return None
    user = inst.state.sys("users").get(found["UserId"])
    if user is None or not user.get("IsActive", True):
        return None
    return str(found["UserId"])


def _new_session(st: InstanceState, user_id: str) -> str:
    token = secrets.token_urlsafe(32)
    digest = hashlib.sha256(token.encode()).hexdigest()
    moment = time.time()
    sessions = st.sys("sessions")
    for key in [k for k, v in sessions.items() if v["ExpiresAt"] < moment]:
        del sessions[key]
    sessions[digest] = {"Id": digest, "UserId": user_id, "ExpiresAt": moment + SESSION_SECONDS}
    return token


# ---------------------------------------------------------------- the relying party


def _origin(inst: Instance, request: web.Request) -> str:
    """The instance's address as the browser sees it (the redirect URI is built from it)."""
    return f"{request.scheme}://{request.host}/{inst.slug}"


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.decode().rstrip("=")


async def _get_json(session: aiohttp.ClientSession, url: str, what: str) -> Any:
    try:
        async with session.get(url) as resp:
            if resp.status != 200:
                raise _refused(f"the provider's {what} answered {resp.status}")
            return await resp.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        raise _refused(f"the provider's {what} could not be read ({type(exc).__name__})") from None


def _refused(reason: str) -> ApiError:
    return ApiError(400, "There was a problem with your request.", [f"Sign-in failed: {reason}."])


async def _discovery(issuer: str) -> Doc:
    async with aiohttp.ClientSession(timeout=HTTP_TIMEOUT, trust_env=False) as session:
        doc = await _get_json(
            session, f"{issuer}/.well-known/openid-configuration", "discovery document"
        )
    if not isinstance(doc, dict) or str(doc.get("issuer", "")).rstrip("/") != issuer:
        raise _refused("the discovery document names another issuer")
    return doc


async def _start(inst: Instance, request: web.Request, redirect_after: str) -> tuple[str, str]:
    """The provider's authorization URL and the browser cookie that binds this sign-in."""
    config = _section(inst.state)
    if not config["IsEnabled"]:
        raise invalid("The Okta authentication provider is not enabled.")
    discovery = await _discovery(str(config["Issuer"]))
    state, nonce, binding = (secrets.token_urlsafe(24) for _ in range(3))
    verifier, challenge = _pkce()
    pending = inst.state.sys("oidcpending")
    moment = time.time()
    for key in [k for k, v in pending.items() if v["ExpiresAt"] < moment]:
        del pending[key]
    pending[state] = {
        "Id": state,
        "Nonce": nonce,
        "Verifier": verifier,
        "Binding": hashlib.sha256(binding.encode()).hexdigest(),
        "RedirectAfterLoginTo": redirect_after,
        "ExpiresAt": moment + PENDING_SECONDS,
    }
    query = urlencode(
        {
            "client_id": config["ClientId"],
            "scope": config.get("Scope") or "openid profile email",
            "response_type": "code",
            "response_mode": "form_post",
            "redirect_uri": _origin(inst, request) + CALLBACK,
            "state": state,
            "nonce": nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    return f"{discovery['authorization_endpoint']}?{query}", binding


def _safe_redirect(inst: Instance, value: Any) -> str:
    """Only a path on this instance: never an open redirect."""
    text = str(value or "")
    home = f"/{inst.slug}/app"
    if not text.startswith(f"/{inst.slug}/") or text.startswith("//"):
        return home
    return text


async def authenticate(inst: Instance, request: web.Request) -> web.StreamResponse:
    """Start a sign-in: JSON in, ``{"ExternalAuthenticationUrl"}`` out (the web portal), or
    a form post (the sign-in page) answered with the redirect itself."""
    form = request.content_type == "application/x-www-form-urlencoded"
    if form:
        body: Any = dict(await request.post())
    else:
        try:
            body = jsonio.loads(await request.read() or b"{}")
        except ValueError:
            raise invalid("The request body could not be parsed as JSON.") from None
    if not isinstance(body, dict):
        raise invalid("The request body must be a JSON object.")
    target = _safe_redirect(inst, body.get("RedirectAfterLoginTo"))
    url, binding = await _start(inst, request, target)
    resp: web.StreamResponse = (
        web.HTTPFound(url) if form else web.json_response({"ExternalAuthenticationUrl": url})
    )
    # The provider posts back from its own site: over https the cookie must be SameSite=None
    # (and Secure); over plain http browsers refuse that, and Lax still reaches a same-site
    # provider (another port of the same host, as in tests).
    resp.set_cookie(
        PENDING_COOKIE, binding, path=f"/{inst.slug}", httponly=True,
        samesite="None" if request.secure else "Lax", max_age=PENDING_SECONDS,
        secure=request.secure,
    )  # fmt: skip
    return resp


async def _exchange(config: Doc, discovery: Doc, code: str, verifier: str, redirect: str) -> str:
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect,
        "code_verifier": verifier,
        "client_id": config["ClientId"],
        "client_secret": config.get("ClientSecret") or "",
    }
    async with aiohttp.ClientSession(timeout=HTTP_TIMEOUT, trust_env=False) as session:
        try:
            async with session.post(discovery["token_endpoint"], data=data) as resp:
                answer = await resp.json(content_type=None)
                if resp.status != 200 or not isinstance(answer, dict):
                    error = answer.get("error") if isinstance(answer, dict) else resp.status
                    raise _refused(f"the provider refused the code ({error})")
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise _refused(f"the code could not be exchanged ({type(exc).__name__})") from None
    token = answer.get("id_token")
    if not isinstance(token, str):
        raise _refused("the provider sent no id_token")
    return token


async def _verify(config: Doc, discovery: Doc, token: str, nonce: str) -> Doc:
    async with aiohttp.ClientSession(timeout=HTTP_TIMEOUT, trust_env=False) as session:
        keys = await _get_json(session, discovery["jwks_uri"], "keys")
    try:
        header = jwt.get_unverified_header(token)
        candidates = [k for k in keys.get("keys", []) if k.get("kid") == header.get("kid")]
        if len(candidates) != 1:
            raise _refused("the id_token names a key the provider does not publish")
        jwk = candidates[0]
        alg = jwk.get("alg") or "RS256"
        if header.get("alg") != alg:
            raise _refused("the id_token's algorithm is not its key's")
        claims: Doc = jwt.decode(
            token,
            key=jwt.PyJWK(jwk, algorithm=alg).key,
            algorithms=[alg],
            audience=str(config["ClientId"]),
            issuer=str(config["Issuer"]),
            options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            leeway=30,
        )
    except jwt.PyJWTError as exc:
        raise _refused(f"the id_token was refused ({type(exc).__name__})") from None
    if not secrets.compare_digest(str(claims.get("nonce", "")), nonce):
        raise _refused("the id_token's nonce is not this sign-in's")
    return claims


def _claim_list(claims: Doc, name: str) -> list[str]:
    value = claims.get(name)
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(v) for v in value if isinstance(v, str | int)]
    return []


def _find_or_create_user(st: InstanceState, config: Doc, claims: Doc) -> Doc:
    users = st.sys("users")
    sub = str(claims["sub"])
    email = str(claims.get("email") or "")
    for user in users.values():
        for ident in user.get("Identities") or []:
            if ident.get("IdentityProviderName") != PROVIDER:
                continue
            if (ident.get("Claims") or {}).get("sub", {}).get("Value") == sub:
                return user
    if email:
        for user in users.values():
            if str(user.get("EmailAddress") or "").casefold() == email.casefold():
                _add_identity(user, sub, email, claims)
                return user
    if not config.get("AllowAutoUserCreation", True):
        raise _refused("no user matches, and auto user creation is off")
    username_claim = config.get("UsernameClaimType") or "preferred_username"
    username = str(claims.get(username_claim) or email or sub)
    taken = {str(u["Username"]).casefold() for u in users.values()}
    base, n = username, 2
    while username.casefold() in taken:
        username, n = f"{base}{n}", n + 1
    ident = st.next_id("Users")
    display = str(claims.get(config.get("NameClaimType") or "name") or username)
    doc = R.user(ident, username, display)
    doc["EmailAddress"] = email or None
    doc["Identities"] = []
    _add_identity(doc, sub, email, claims)
    R.stamp(doc, "system", now())
    users[ident] = doc
    return doc


def _add_identity(user: Doc, sub: str, email: str, claims: Doc) -> None:
    user.setdefault("Identities", []).append(
        {
            "IdentityProviderName": PROVIDER,
            "Claims": {
                "sub": {"Value": sub, "IsIdentifyingClaim": True},
                "email": {"Value": email, "IsIdentifyingClaim": True},
                "dn": {"Value": str(claims.get("name") or ""), "IsIdentifyingClaim": False},
            },
        }
    )


async def authenticated(inst: Instance, request: web.Request) -> web.StreamResponse:
    """The provider's form post: check everything, sign the user in, go where they were."""
    form = dict(await request.post())
    if form.get("error"):
        raise _refused(f"the provider answered {str(form['error'])[:80]!r}")
    state = str(form.get("state") or "")
    pending = inst.state.sys("oidcpending").pop(state, None)
    binding = request.cookies.get(PENDING_COOKIE, "")
    if (
        pending is None
        or pending["ExpiresAt"] < time.time()
        or not secrets.compare_digest(
            pending["Binding"], hashlib.sha256(binding.encode()).hexdigest()
        )
    ):
        raise _refused("the state does not match a sign-in this browser started")
    config = _section(inst.state)
    if not config["IsEnabled"]:
        raise invalid("The Okta authentication provider is not enabled.")
    discovery = await _discovery(str(config["Issuer"]))
    token = await _exchange(
        config, discovery, str(form.get("code") or ""), pending["Verifier"],
        _origin(inst, request) + CALLBACK,
    )  # fmt: skip
    claims = await _verify(config, discovery, token, pending["Nonce"])
    user = _find_or_create_user(inst.state, config, claims)
    if not user.get("IsActive", True):
        raise _refused("this user is disabled")
    # Replaced at every sign-in: a group taken away is gone at the next one.
    groups = _claim_list(claims, str(config.get("RoleClaimType") or "groups"))
    inst.state.sys("usergroups")[user["Id"]] = {"Id": user["Id"], "Groups": groups}
    resp = web.HTTPFound(pending["RedirectAfterLoginTo"])
    path, secure = f"/{inst.slug}", request.secure
    session = _new_session(inst.state, user["Id"])
    resp.set_cookie(
        SESSION_COOKIE, session, path=path, secure=secure, samesite="Lax", httponly=True
    )
    resp.set_cookie(
        CSRF_COOKIE, secrets.token_urlsafe(24), path=path, secure=secure, samesite="Lax"
    )
    resp.del_cookie(PENDING_COOKIE, path=f"/{inst.slug}")
    return resp


async def sign_out(inst: Instance, request: web.Request) -> web.StreamResponse:
    token = request.cookies.get(SESSION_COOKIE, "")
    inst.state.sys("sessions").pop(hashlib.sha256(token.encode()).hexdigest(), None)
    resp = web.HTTPFound(f"/{inst.slug}/app/users/sign-in")
    resp.del_cookie(SESSION_COOKIE, path=f"/{inst.slug}")
    return resp


# ---------------------------------------------------------------- the pages


def _page(title: str, body: str) -> web.Response:
    doc = (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}"
        f" – Octopus Deploy (octosim)</title></head><body>{body}</body></html>"
    )
    return web.Response(text=doc, content_type="text/html")


def sign_in_page(inst: Instance, request: web.Request) -> web.Response:
    config = _section(inst.state)
    target = html.escape(_safe_redirect(inst, request.query.get("redirect")))
    parts = [f"<h1>Sign in to {html.escape(inst.name)}</h1>"]
    if config["IsEnabled"]:
        label = html.escape(str(config.get("LoginLinkLabel") or f"Sign in with {PROVIDER}"))
        parts.append(
            f"<form method='post' action='/{inst.slug}{AUTHENTICATE}'>"
            f"<input type='hidden' name='RedirectAfterLoginTo' value='{target}'>"
            f"<button type='submit' data-provider='{PROVIDER}'>{label}</button></form>"
        )
    else:
        parts.append("<p>Only username and password sign-in is enabled.</p>")
    return _page("Sign in", "".join(parts))


def home_page(inst: Instance, request: web.Request) -> web.Response:
    """Who is signed in, their teams and the spaces they may see (the portal's start page)."""
    from octosim.permissions import permission_set

    user_id = session_user(inst, request)
    if user_id is None:
        raise web.HTTPFound(f"/{inst.slug}/app/users/sign-in")
    st = inst.state
    user = st.sys("users")[user_id]
    perms = permission_set(st, user_id, None)
    spaces = sorted(
        {e["SpaceId"] for e in perms["SpacePermissions"].get("SpaceView", [])}
        | {e["SpaceId"] for e in perms["SpacePermissions"].get("ProjectView", [])}
    )
    teams = "".join(
        f"<li data-team='{html.escape(t['Id'])}'>{html.escape(t['Name'])}</li>"
        for t in perms["Teams"]
    )
    rows = "".join(
        f"<li data-space='{html.escape(s)}'>{html.escape(st.spaces[s]['Name'])}</li>"
        for s in spaces
        if s in st.spaces
    )
    body = (
        f"<h1>Signed in as <span data-user='{html.escape(user_id)}'>"
        f"{html.escape(str(user['Username']))}</span></h1>"
        f"<h2>Teams</h2><ul>{teams}</ul><h2>Spaces</h2><ul>{rows}</ul>"
        f"<form method='post' action='/{inst.slug}/api/users/logout'>"
        "<button type='submit'>Sign out</button></form>"
    )
    return _page("Home", body)


async def handle(inst: Instance, request: web.Request, tail: str) -> web.StreamResponse | None:
    """The sign-in routes that are not JSON API resources; None for every other path."""
    path = tail.rstrip("/").lower()
    method = request.method
    try:
        if method == "GET" and path == "/app/users/sign-in":
            return sign_in_page(inst, request)
        if method == "GET" and path == "/app" and session_user(inst, request) is not None:
            # signed in: the portal's start page; otherwise /app is the read-only web view
            return home_page(inst, request)
        if method == "POST" and path == AUTHENTICATE.lower():
            return await authenticate(inst, request)
        if method == "POST" and path == CALLBACK.lower():
            return await authenticated(inst, request)
        if method == "POST" and path == "/api/users/logout":
            return await sign_out(inst, request)
    except ApiError as err:
        return web.json_response(err.body(), status=err.status)
    return None
