"""Generate malformed requests for every API operation and every page, and run them.

The API's operations come from its own OpenAPI schema (so a new endpoint is swept without a
line here); the pages from the URL resolver. Parameter names for pages are read from the
source (``request.GET.get("…")`` and the like) and from every form class loaded.
Each request runs in a savepoint that is rolled back, so every one sees the same world.
"""

from __future__ import annotations

import json
import logging
import re
import traceback
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django import forms
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from rest_framework.test import APIRequestFactory, force_authenticate

ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDER = "00000000-0000-0000-0000-000000000000"
DEEP = 200  # levels of nesting in the "deeply nested JSON" bodies

# Values of the wrong shape for a query parameter, by its declared type and format.
BY_TYPE: dict[str, list[Any]] = {
    "integer": ["abc", "99999999999999999999", "²"],
    "number": ["abc", "1e309"],
    "boolean": ["maybe"],
    "string": ["\x00", "x" * 3000, "²"],
    "array": ["\x00", "²"],
}
FORMAT_BAD = {
    "uuid": ["not-a-uuid", "²"],
    "date": ["not-a-date", "9999-12-31", "0001-01-01"],
    "date-time": ["not-a-date", "9999-12-31T25:61"],
}
# Values of the wrong type for a JSON body field, by the field's declared type.
JSON_BAD: dict[str, list[Any]] = {
    "string": [123, [], None, "\x00"],
    "integer": ["abc", 2**63, "²", None],
    "number": ["abc", None],
    "boolean": ["maybe", []],
    "array": ["x", [None], [[[]]]],
    "object": ["x", [], 5],
}
WHOLE_BODIES: list[tuple[str, str]] = [
    ("[]", "application/json"),
    ('"x"', "application/json"),
    ("null", "application/json"),
    ("{", "application/json"),
    ('{"a": ' * DEEP + "1" + "}" * DEEP, "application/json"),
    ("[" * DEEP * 50 + "]" * DEEP * 50, "application/json"),
    ("junk", "text/plain"),
]
# Pages: every parameter and form field a page reads takes the same value at once.
PAGE_GET = ["99999999999999999999", "²", "\x00x", "9999-12-31", "custom"]
PAGE_POST = ["not-a-uuid", "-1", "²", "\x00", "x" * 3000]


@dataclass
class Failure:
    persona: str
    method: str
    url: str
    status: int
    detail: str

    def __str__(self) -> str:
        return f"{self.persona} {self.method} {self.url[:160]} -> {self.status}: {self.detail}"


class ErrorLog(logging.Handler):
    """Keeps the last logged exception, to say where a 5xx came from."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.last = ""

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and record.exc_info[1] is not None:
            frames = traceback.extract_tb(record.exc_info[2])
            where = next(
                (
                    f
                    for f in reversed(frames)
                    if str(ROOT) in f.filename and ".venv" not in f.filename
                ),
                frames[-1] if frames else None,
            )
            at = f" at {Path(where.filename).name}:{where.lineno}" if where else ""
            self.last = f"{type(record.exc_info[1]).__name__}: {record.exc_info[1]}"[:300] + at


@dataclass
class Runner:
    """Sends requests as one persona, each in a rolled-back savepoint, and keeps the 5xx."""

    persona: str
    client: Client
    log: ErrorLog
    failures: list[Failure] = field(default_factory=list)
    count: int = 0

    def send(self, method: str, url: str, **kwargs: Any) -> int:
        self.count += 1
        self.log.last = ""
        status = 0
        try:
            with transaction.atomic():
                response = getattr(self.client, method.lower())(url, **kwargs)
                status = response.status_code
                transaction.set_rollback(True)
        except Exception as exc:  # a crash the test client re-raised
            self.failures.append(Failure(self.persona, method, url, 0, repr(exc)[:300]))
            return 500
        if status >= 500:
            detail = self.log.last or response.content[:200].decode(errors="replace")
            self.failures.append(Failure(self.persona, method, url, status, detail))
        return status


# -- the API, from its OpenAPI schema ---------------------------------------------------------


def api_schema() -> dict[str, Any]:
    from drf_spectacular.generators import SchemaGenerator

    return SchemaGenerator().get_schema(request=None, public=True)


def _resolve_ref(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        node = schema["components"]["schemas"][name]
    if "allOf" in node:
        merged: dict[str, Any] = {}
        for part in node["allOf"]:
            merged.update(_resolve_ref(schema, part))
        return merged
    return node


def path_value(path: str, param: str, user: Any, fallback: dict[str, str]) -> str | None:
    """A real id for ``{param}`` in ``path``: the first object the view lists for ``user``
    (None when there is none to be found)."""
    match = resolve(path.replace("{" + param + "}", PLACEHOLDER))
    cls = getattr(match.func, "cls", None)
    if param in fallback or cls is None or not hasattr(cls, "get_queryset"):
        return fallback.get(param)
    view = cls(**getattr(match.func, "initkwargs", {}))
    view.action_map = getattr(match.func, "actions", {})
    request = APIRequestFactory().get("/")
    force_authenticate(request, user=user)
    view.request = view.initialize_request(request)
    view.args, view.kwargs, view.format_kwarg = (), {}, None
    try:
        obj = view.get_queryset().first()
    except KeyError:  # a nested route: its parent's id comes from ``fallback``
        return None
    if obj is None:
        # An endpoint hidden from this user (administrators only, answered 404): the
        # malformed requests still go to a real object's address, one an administrator sees.
        from identity.models import User

        admin = User.objects.filter(is_superuser=True, is_active=True).first()
        if admin is not None and not getattr(user, "is_superuser", False):
            return path_value(path, param, admin, fallback)
        return None
    return str(obj.serializable_value(getattr(view, "lookup_field", "pk")))


def _bad_query_values(param: dict[str, Any]) -> list[Any]:
    schema = param.get("schema", {})
    kind = schema.get("type", "string")
    values = list(FORMAT_BAD.get(schema.get("format", ""), BY_TYPE.get(kind, BY_TYPE["string"])))
    if "enum" in schema or kind == "array":
        values.append("nope")
    return values


def _good(name: str, prop: dict[str, Any], goods: dict[str, Any]) -> Any:
    if name in goods:
        return goods[name]
    if "enum" in prop:
        return prop["enum"][0]
    return {"integer": 1, "number": 1, "boolean": False, "array": [], "object": {}}.get(
        prop.get("type", "string"), "x"
    )


def api_requests(
    schema: dict[str, Any],
    user: Any,
    goods: dict[str, Any],
    fallback: dict[str, str],
    unresolved: list[str],
) -> Iterator[tuple[str, str, dict[str, Any], set[int] | None]]:
    """(method, url, client kwargs, statuses the schema declares) for every malformed variant
    of every operation; paths for which no object was found are added to ``unresolved``."""
    for template, operations in schema["paths"].items():
        url = template
        for param in re.findall(r"{(\w+)}", template):
            value = path_value(template, param, user, fallback)
            if value is None:
                unresolved.append(template)
            url = url.replace("{" + param + "}", value or PLACEHOLDER)
        for method, op in operations.items():
            for request in _operation_requests(schema, method.upper(), url, op, goods):
                yield (*request, {int(code) for code in op.get("responses", {})})
        # The same routes addressed by ids of the wrong shape.
        if "{" in template:
            bad = re.sub(r"{\w+}", "not-a-uuid", template)
            yield "GET", bad, {}, None
            yield "GET", re.sub(r"{\w+}", "99999999999999999999", template), {}, None
            yield "POST", bad, {"data": "{}", "content_type": "application/json"}, None


def _operation_requests(
    schema: dict[str, Any], method: str, url: str, op: dict[str, Any], goods: dict[str, Any]
) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for param in op.get("parameters", []):
        if param["in"] != "query":
            continue
        for value in _bad_query_values(param):
            yield method, f"{url}?{_query({param['name']: value})}", {}
        yield method, f"{url}?{_query({param['name']: ['nope', '²']})}", {}
    if method == "GET" or "requestBody" not in op:
        if method != "GET":
            yield method, url, {"data": '{"a": ' * DEEP + "1" + "}" * DEEP,
                                "content_type": "application/json"}  # fmt: skip
        return
    content = op["requestBody"].get("content", {})
    body_schema = _resolve_ref(schema, content.get("application/json", {}).get("schema", {}))
    properties = {
        name: _resolve_ref(schema, prop)
        for name, prop in body_schema.get("properties", {}).items()
        if not prop.get("readOnly")
    }
    base = {name: _good(name, prop, goods) for name, prop in properties.items()}
    for name, prop in properties.items():
        for value in JSON_BAD.get(prop.get("type", "string"), JSON_BAD["string"]):
            body = {**base, name: value}
            yield method, url, {"data": json.dumps(body), "content_type": "application/json"}
        if prop.get("format") == "uuid":
            body = {**base, name: "not-a-uuid"}
            yield method, url, {"data": json.dumps(body), "content_type": "application/json"}
    for text, content_type in WHOLE_BODIES:
        yield method, url, {"data": text, "content_type": content_type}


def _query(params: dict[str, Any]) -> str:
    from urllib.parse import urlencode

    return urlencode(params, doseq=True)


# -- pages, from the URL resolver -----------------------------------------------------------

PARAM_PATTERN = re.compile(
    r"""(?:GET|POST|params|query_params|data)(?:\.get|\.getlist)?\(\s*["']([A-Za-z_][\w-]*)["']"""
)
FROM_PARAMS = re.compile(r"""\bget\(\s*["']([a-z_]+)["']\s*\)""")


def page_parameters() -> list[str]:
    """Names of every query parameter and form field a page reads."""
    assert get_resolver().url_patterns  # imports every view, so every form class is loaded
    names: set[str] = set()
    for app in ("odcm", "audit", "identity", "spaces", "monitoring", "sharing"):
        for source in (ROOT / app).rglob("*.py"):
            text = source.read_text()
            names.update(PARAM_PATTERN.findall(text))
            if "from_params" in text:
                names.update(FROM_PARAMS.findall(text))
    stack: list[type] = [forms.Form, forms.ModelForm]
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        names.update(getattr(cls, "base_fields", {}))
    names.discard("csrfmiddlewaretoken")
    return sorted(names)


def page_patterns(skip: tuple[str, ...]) -> list[tuple[str, Any]]:
    """(route with <converters>, pattern) of every page."""
    found: list[tuple[str, Any]] = []

    def walk(patterns: list[Any], prefix: str) -> None:
        for entry in patterns:
            route = prefix + str(entry.pattern)
            if route.startswith(skip):
                continue
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, route)
            elif isinstance(entry, URLPattern):
                found.append((route, entry))

    walk(get_resolver().url_patterns, "")
    return found


def page_urls(route: str, candidates: dict[str, list[tuple[str, str]]], probe: Any) -> list[str]:
    """Concrete URLs for a route: each ``<conv:name>`` filled with a value that reaches the
    view (found by probing, objects whose label appears in the route first), or every value
    for a verb (each is its own code path)."""
    urls = ["/" + route.lstrip("^").rstrip("$")]
    for conv, name in re.findall(r"<(?:(\w+):)?(\w+)>", route):
        token = f"<{conv}:{name}>" if conv else f"<{name}>"
        labelled = candidates.get(name) or candidates.get(conv or "str", [])
        values = [v for _, v in sorted(labelled, key=lambda lv: lv[0] not in route)]
        if name == "verb":  # the route's own verbs, and one it does not have
            own = [v for label, v in labelled if not label or label in route]
            urls = [u.replace(token, v, 1) for u in urls for v in own]
            continue
        urls = [next((u.replace(token, v, 1) for v in values if probe(u.replace(token, v, 1))),
                     u.replace(token, values[0] if values else "x", 1)) for u in urls]  # fmt: skip
    return urls


def page_requests(url: str, names: list[str]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for value in PAGE_GET:
        yield "GET", url, {"data": dict.fromkeys(names, value)}
    for value in PAGE_POST:
        yield "POST", url, {"data": dict.fromkeys(names, value)}
    yield "POST", url, {"data": {name: ["a", "²"] for name in names}}
    yield "POST", url, {"data": "\xff" * 10, "content_type": "application/x-www-form-urlencoded"}


def random_uuid() -> str:
    return str(uuid.uuid4())
