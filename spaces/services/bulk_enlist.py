"""Enlist many instances from one file (CSV or YAML): each row goes through the one enlist
service on its own, so a row that fails saves nothing and the others carry on.

CSV: a header row naming ``url``, ``api_key`` and optionally ``name``, ``region``, ``tags``
(tags separated by ``;`` or spaces, since commas separate the columns). YAML: a list of
mappings with the same keys (``tags`` a list or a string). Without a name, the server's host
name (and path) names the instance.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import yaml
from django.http import HttpRequest

from spaces.services.errors import RegistryError
from spaces.services.instances import enlist_instance

MAX_BYTES = 1_000_000
MAX_ROWS = 500
KEYS = {"url", "api_key", "name", "region", "tags", "description"}


class FileError(ValueError):
    """The file as a whole cannot be read: nothing was tried."""


@dataclass
class Row:
    line: int
    name: str
    url: str
    api_key: str
    region: str = ""
    tags: tuple[str, ...] = ()
    description: str = ""
    # Set when the row itself is malformed (no URL, no key): it is not tried.
    problem: str = ""


@dataclass
class Result:
    line: int
    name: str
    url: str
    ok: bool
    message: str


def _tags(value: Any) -> tuple[str, ...]:
    if isinstance(value, list):
        parts = [str(v) for v in value]
    else:
        parts = re.split(r"[;\s|]+", str(value or ""))
    return tuple(dict.fromkeys(p.strip() for p in parts if p.strip()))


def _name_for(url: str) -> str:
    parts = urlsplit(url if "://" in url else f"https://{url}")
    return f"{parts.hostname or url}{parts.path.rstrip('/')}"[:100]


def _row(line: int, doc: dict[str, Any]) -> Row:
    doc = {str(k).strip().lower().replace(" ", "_").replace("-", "_"): v for k, v in doc.items()}
    doc.setdefault("api_key", doc.pop("apikey", doc.pop("key", "")))
    url = str(doc.get("url") or "").strip()
    key = str(doc.get("api_key") or "").strip()
    name = str(doc.get("name") or "").strip() or (_name_for(url) if url else "")
    row = Row(
        line, name, url, key, str(doc.get("region") or "").strip()[:100],
        _tags(doc.get("tags")), str(doc.get("description") or "").strip(),
    )  # fmt: skip
    if not url:
        row.problem = "No URL."
    elif not key:
        row.problem = "No API key."
    return row


def parse(content: bytes, filename: str = "") -> list[Row]:
    """The rows of a CSV or YAML file (YAML when the name ends .yml/.yaml or the text starts
    as a YAML list). Raises :class:`FileError` when the file cannot be read at all."""
    if len(content) > MAX_BYTES:
        raise FileError(f"The file is larger than {MAX_BYTES // 1000} kB.")
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise FileError("The file is not UTF-8 text.") from None
    is_yaml = filename.lower().endswith((".yml", ".yaml")) or text.lstrip().startswith("-")
    rows = _parse_yaml(text) if is_yaml else _parse_csv(text)
    if not rows:
        raise FileError("The file lists no instances.")
    if len(rows) > MAX_ROWS:
        raise FileError(f"The file lists {len(rows)} instances; at most {MAX_ROWS} at once.")
    return rows


def _parse_yaml(text: str) -> list[Row]:
    try:
        docs = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise FileError(f"The YAML cannot be read{where}.") from None
    if isinstance(docs, dict) and isinstance(docs.get("instances"), list):
        docs = docs["instances"]
    if not isinstance(docs, list) or not all(isinstance(d, dict) for d in docs):
        raise FileError("The YAML must be a list of instances, each with url and api_key.")
    return [_row(n, doc) for n, doc in enumerate(docs, start=1)]


def _parse_csv(text: str) -> list[Row]:
    reader = csv.DictReader(io.StringIO(text))
    header = {h.strip().lower().replace(" ", "_") for h in reader.fieldnames or []}
    if "url" not in header or not header & {"api_key", "apikey", "key"}:
        raise FileError("The CSV's first row must name its columns: url, api_key, region, tags.")
    rows = []
    for doc in reader:
        if not any((v or "").strip() for v in doc.values() if isinstance(v, str)):
            continue  # a blank line
        rows.append(_row(reader.line_num, {k: v for k, v in doc.items() if k is not None}))
    return rows


def enlist_rows(
    rows: list[Row], *, actor: Any = None, request: HttpRequest | None = None
) -> list[Result]:
    """Enlist each row with :func:`enlist_instance` (which checks the server, the key's
    permissions and duplicates, and saves nothing when it fails)."""
    results = []
    for row in rows:
        if row.problem:
            results.append(Result(row.line, row.name, row.url, False, row.problem))
            continue
        try:
            instance = enlist_instance(
                name=row.name, base_url=row.url, api_key=row.api_key, region=row.region,
                description=row.description, tags=row.tags, actor=actor, request=request,
            )  # fmt: skip
        except RegistryError as exc:
            results.append(Result(row.line, row.name, row.url, False, exc.message))
        else:
            count = instance.spaces.count()
            results.append(
                Result(
                    row.line,
                    instance.name,
                    instance.base_url,
                    True,
                    f"Enlisted with {count} space{'s' if count != 1 else ''}.",
                )  # fmt: skip
            )
    return results
