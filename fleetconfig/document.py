"""Reading a declared fleet: YAML with the line of every value, checked against the schema.

Every problem is collected (not only the first) as an :class:`Issue` naming the line, the path
and what is wrong, so a merge request review sees them all at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml
from jsonschema import Draft202012Validator, FormatChecker

from fleetconfig.schema import SCHEMA, SUPPORTED_VERSIONS, VERSION

Path = tuple[str | int, ...]
MAX_BYTES = 5 * 1024 * 1024


@dataclass(frozen=True)
class Issue:
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line else "file"
        return f"{where}: {self.path + ': ' if self.path else ''}{self.message}"

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "path": self.path, "message": self.message}


class InvalidDocument(Exception):
    """The file cannot be planned; ``issues`` lists every problem with its line."""

    def __init__(self, issues: list[Issue]) -> None:
        super().__init__("; ".join(str(i) for i in issues[:5]))
        self.issues = issues


@dataclass
class Document:
    data: dict[str, Any]
    lines: dict[Path, int]

    def line(self, path: Path) -> int | None:
        # The nearest enclosing value that has a line (a missing key: its parent's).
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), None)

    def issue(self, path: Path, message: str) -> Issue:
        return Issue(self.line(path), dotted(path), message)


def dotted(path: Path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


class _Loader(yaml.SafeLoader):
    """Safe YAML without implicit dates (a timestamp stays the string that was written)."""


_Loader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _lines(node: yaml.Node, path: Path, out: dict[Path, int]) -> None:
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                out[(*path, key.value)] = key.start_mark.line + 1
                _lines(value, (*path, key.value), out)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _lines(item, (*path, index), out)


def parse(text: str | bytes) -> Document:
    """YAML (or JSON) text to a document, or :class:`InvalidDocument`."""
    if isinstance(text, bytes):
        if len(text) > MAX_BYTES:
            raise InvalidDocument([Issue(None, "", "The file is larger than 5 MiB.")])
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidDocument([Issue(None, "", "The file is not UTF-8 text.")]) from exc
    if len(text) > MAX_BYTES:
        raise InvalidDocument([Issue(None, "", "The file is larger than 5 MiB.")])
    try:
        node = yaml.compose(text, Loader=_Loader)
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else None
        raise InvalidDocument([Issue(line, "", f"Not valid YAML: {exc.problem}.")]) from exc
    except yaml.YAMLError as exc:
        raise InvalidDocument([Issue(None, "", "Not valid YAML.")]) from exc
    if not isinstance(data, dict) or node is None:
        raise InvalidDocument([Issue(1, "", "The file must be a mapping with a version.")])
    lines: dict[Path, int] = {}
    _lines(node, (), lines)
    doc = Document(data, lines)
    validate_shape(doc)
    return doc


def validate_shape(doc: Document) -> None:
    version = doc.data.get("version")
    low, high = SUPPORTED_VERSIONS
    if isinstance(version, int) and not isinstance(version, bool) and not low <= version <= high:
        raise InvalidDocument(
            [
                doc.issue(
                    ("version",),
                    f"Schema version {version} is not supported; this ODCM reads "
                    f"{low}" + ("" if low == high else f" to {high}") + ".",
                )
            ]
        )
    validator = Draft202012Validator(SCHEMA, format_checker=FormatChecker())
    issues = []
    for error in sorted(validator.iter_errors(doc.data), key=lambda e: list(map(str, e.path))):
        path = tuple(error.absolute_path)
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            known = set(error.schema.get("properties", {}))
            for extra in sorted(set(error.instance) - known, key=str):
                issues.append(doc.issue((*path, str(extra)), f"Unknown field {str(extra)!r}."))
            continue
        issues.append(doc.issue(path, _message(error)))
    if issues:
        raise InvalidDocument(sorted(issues, key=lambda i: (i.line or 0, i.path)))


def _message(error: Any) -> str:
    """What is wrong, without echoing the value (it may be a secret written inline)."""
    kind, expected = error.validator, error.validator_value
    path = tuple(error.absolute_path)
    if path and path[-1] == "api_key":
        return "An API key is never written inline: give {env: NAME} or {file: PATH}."
    if kind == "required":
        missing = [
            k for k in expected if isinstance(error.instance, dict) and k not in error.instance
        ]
        return f"{', '.join(map(repr, missing)) or 'A field'} is required."
    if kind == "type":
        names = expected if isinstance(expected, list) else [expected]
        return f"Must be {' or '.join(_TYPES.get(str(n), str(n)) for n in names)}."
    if kind in ("enum", "const"):
        values = expected if kind == "enum" else [expected]
        return f"Must be one of: {', '.join(map(str, values))}."
    if kind == "oneOf" and path and path[-1] == "value":
        return "A value is text, or a secret reference {env: NAME} or {file: PATH}."
    return _LIMITS.get(kind, "Not valid here.").format(expected)


_TYPES = {
    "object": "a mapping",
    "array": "a list",
    "string": "text",
    "integer": "a whole number",
    "boolean": "true or false",
    "null": "empty",
}
_LIMITS = {
    "minLength": "Must not be empty.",
    "maxLength": "Must be at most {} characters.",
    "minItems": "Must list at least {} item(s).",
    "uniqueItems": "Must not list the same item twice.",
    "pattern": "Must be a name of letters, digits and underscores.",
    "format": "Must be a {} (for example 2026-12-01T08:00:00Z).",
    "minimum": "Must be at least {}.",
    "minProperties": "Must name one of: env, file.",
    "maxProperties": "Must name only one of: env, file.",
}


__all__ = ["VERSION", "Document", "InvalidDocument", "Issue", "dotted", "parse"]
