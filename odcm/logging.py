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
