"""JSON bodies: orjson, with the ``json`` module's answer wherever orjson would differ.

A fan-out reads and writes variable set documents of hundreds of variables on every delivery;
with the ``json`` module parsing and writing them was the largest share of a worker's CPU.
orjson does the same several times faster. Where it refuses what the ``json`` module accepts
(NaN, integers over 64 bits, keys that are not strings) the ``json`` module decides, so the
results stay what they were (one exception: see :func:`dumps`).
"""

from __future__ import annotations

import json
from typing import Any

import orjson

# orjson reads an integer over 64 bits as an inexact float; the json module keeps it exact.
# A run of 19 digits or more (anywhere, strings included) sends the body to the json module.
# Found by mapping every digit to "0" and everything else to a space, then looking for 19
# zeros: the regular expression [0-9]{19} took longer than orjson's whole parse of a variable
# set document (it tries at every digit), bytes.translate and ``in`` run at memory speed.
_DIGITS = bytes(ord("0") if 0x30 <= c <= 0x39 else ord(" ") for c in range(256))
_LONG_RUN = b"0" * 19


def loads(data: bytes) -> Any:
    """``json.loads``, faster. Raises ``ValueError`` for what is not JSON."""
    if _LONG_RUN in data.translate(_DIGITS):
        return json.loads(data)
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:  # NaN, Infinity: the json module reads them
        return json.loads(data)


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON, as httpx writes a ``json=`` body. Unlike httpx (which refused
    them with ``ValueError``), a NaN or infinite float is written as ``null``; ODCM sends
    Octopus no floats."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(
            value, ensure_ascii=False, separators=(",", ":"), allow_nan=False
        ).encode()
