"""Log filtering: a last line of defence that masks secrets a log message might carry.

Request logs (the development server's ``django.server`` logger and gunicorn's access log,
through ``odcm.gunicorn_logging``) go through the same :func:`redact`: query parameters
whose names suggest a secret (``token``, ``key``, ``code``, ``state``, ``password``…) and the
key in a password-reset link are masked.


It also holds the optional JSON log format (``ODCM_LOG_FORMAT=json``).
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime

MASK = "[redacted]"
# (pattern, replacement): API keys of Octopus (API-XXXX), ODCM's own tokens, credentials
# inside URLs, secret-looking query parameters and password-reset keys in paths.
PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"API-[A-Z0-9]{16,}", re.IGNORECASE), MASK),
    (re.compile(r"odcm_[A-Za-z0-9]{6,}_[A-Za-z0-9_-]{16,}"), MASK),
    (re.compile(r"(?<=://)[^/@\s:]+:[^/@\s]+(?=@)"), MASK),
    (re.compile(r"(?i)(?<=apikey=)[^&\s]+"), MASK),
    (
        re.compile(
            r"(?i)([?&;][^=&\s#]*(?:token|key|code|secret|passw|pwd|state|sig|nonce|otp|auth"
            r"|session|credential)[^=&\s#]*=)[^&\s#\"']*"
        ),
        r"\1" + MASK,
    ),
    (re.compile(r"(?i)(/password/reset/key/)[^/\s?\"']+"), r"\1" + MASK),
]


def redact(text: str) -> str:
    for pattern, replacement in PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactSecretsFilter(logging.Filter):
    """Rewrites each record's message with known secret shapes masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, process and,
    for an exception, its formatted traceback. Log collectors parse it without patterns."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


class QuietForbiddenFilter(logging.Filter):
    """A 403 is an expected answer, not a fault: log its one line without the traceback of the
    PermissionDenied that produced it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", None) == 403:
            record.exc_info, record.exc_text = None, None
        return True
