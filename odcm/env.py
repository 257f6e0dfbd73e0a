"""Typed readers for ODCM's configuration, which comes from environment variables only.

Every variable carries the ``ODCM_`` prefix. Any value may instead be read from a file named by
``<NAME>_FILE`` (for secrets mounted by Docker or Kubernetes); setting both is an error, because
it is never clear which one the operator meant.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})


class EnvError(ValueError):
    """A configuration variable holds a value ODCM cannot use. The message names the variable."""


def _source(environ: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if environ is None else environ


def env_str(
    name: str, default: str | None = None, *, environ: Mapping[str, str] | None = None
) -> str | None:
    """Read a string from ``name`` or from the file that ``name_FILE`` points at."""
    env = _source(environ)
    file_var = f"{name}_FILE"
    if name in env and file_var in env:
        raise EnvError(f"{name} and {file_var} are both set: set only one of them")
    if file_var in env:
        path = Path(env[file_var])
        try:
            return path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise EnvError(f"{file_var}: cannot read {path}: {exc.strerror}") from None
    value = env.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip()


def env_bool(name: str, default: bool, *, environ: Mapping[str, str] | None = None) -> bool:
    raw = env_str(name, environ=environ)
    if raw is None:
        return default
    word = raw.lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise EnvError(f"{name}={raw!r} is not a boolean: use one of true/false, yes/no, on/off, 1/0")


def env_int(
    name: str,
    default: int,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    raw = env_str(name, environ=environ)
    if raw is None:
        return default
    try:
        value = int(raw, 10)
    except ValueError:
        raise EnvError(f"{name}={raw!r} is not a whole number") from None
    if minimum is not None and value < minimum:
        raise EnvError(f"{name}={value} is below the minimum of {minimum}")
    if maximum is not None and value > maximum:
        raise EnvError(f"{name}={value} is above the maximum of {maximum}")
    return value


def env_list(
    name: str, default: list[str] | None = None, *, environ: Mapping[str, str] | None = None
) -> list[str]:
    """A comma-separated list; blanks around items and empty items are dropped."""
    raw = env_str(name, environ=environ)
    if raw is None:
        return list(default or [])
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_url(
    name: str,
    default: str | None = None,
    *,
    schemes: tuple[str, ...],
    environ: Mapping[str, str] | None = None,
) -> str | None:
    """A URL whose scheme is one of ``schemes`` and that names a host (or a path, for files)."""
    raw = env_str(name, environ=environ)
    if raw is None:
        return default
    try:
        parts = urlsplit(raw)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise EnvError(f"{name} is not a valid URL (check the port and brackets)") from None
    if parts.scheme not in schemes:
        allowed = ", ".join(f"{s}://" for s in schemes)
        raise EnvError(f"{name} must start with one of {allowed}")
    if not parts.hostname and not parts.path:
        raise EnvError(f"{name} names no host")
    return raw
