"""Email headers built safely from any text.

Names come from Octopus (space names) and from people (instance names): a CR or LF in a
subject makes Django refuse the whole message (``BadHeaderError``), and a message that can
never be sent would stall its alert for ever. Every subject and header value ODCM builds from
such text goes through :func:`header_text`.
"""

from __future__ import annotations

import unicodedata

MAX_HEADER = 200


def header_text(value: object, limit: int = MAX_HEADER) -> str:
    """``value`` on one line: every run of whitespace or control characters (CR, LF, tab,
    the Unicode line separators…) becomes one space; cut to ``limit`` characters."""
    text = "".join(
        " " if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") else ch for ch in str(value)
    )
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
