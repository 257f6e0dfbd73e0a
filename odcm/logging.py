"""Log filtering: a last line of defence that masks secrets a log message might carry."""

from __future__ import annotations

import logging
import re

# API keys of Octopus (API-XXXX), ODCM's own tokens, and credentials inside URLs.
PATTERNS = [
    re.compile(r"API-[A-Z0-9]{16,}", re.IGNORECASE),
    re.compile(r"odcm_[A-Za-z0-9]{6,}_[A-Za-z0-9_-]{16,}"),
    re.compile(r"(?<=://)[^/@\s:]+:[^/@\s]+(?=@)"),
    re.compile(r"(?i)(?<=apikey=)[^&\s]+"),
]
MASK = "[redacted]"


def redact(text: str) -> str:
    for pattern in PATTERNS:
        text = pattern.sub(MASK, text)
    return text


class RedactSecretsFilter(logging.Filter):
    """Rewrites each record's message with known secret shapes masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


class QuietForbiddenFilter(logging.Filter):
    """A 403 is an expected answer, not a fault: log its one line without the traceback of the
    PermissionDenied that produced it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", None) == 403:
            record.exc_info, record.exc_text = None, None
        return True
