"""Entry-point guard: configuration errors end the process with one line, not a traceback."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def guarded(start: Callable[[], T]) -> T:
    """Run ``start``; on unsafe or invalid configuration print one line and exit with code 2."""
    from odcm.config import UnsafeConfiguration
    from odcm.crypto import CryptoError
    from odcm.env import EnvError

    try:
        return start()
    except (UnsafeConfiguration, EnvError, CryptoError) as exc:
        sys.stderr.write(f"odcm: configuration error: {exc}\n")
        raise SystemExit(2) from None
