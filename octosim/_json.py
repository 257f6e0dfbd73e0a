"""JSON bodies: orjson where its answer is byte for byte the ``json`` module's, else ``json``.

A fan-out benchmark reads and writes variable set documents of hundreds of variables; the
``json`` module's ``dumps`` and ``loads`` of them were a large share of octosim's CPU per
request. orjson is several times faster, and for the documents octosim serves (strings,
integers, booleans, null, lists and objects with string keys) it writes exactly the same
bytes as ``json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()`` and reads
the same values as ``json.loads``. Where they could differ the ``json`` module decides, so a
response never changes:

* floats: orjson and Python format some differently (``1e-05`` is ``0.00001`` in orjson), so
  any float in orjson's output (found by :func:`_may_hold_float`) sends the payload to
  ``json``;
* NaN and Infinity: orjson writes ``null``. They reach octosim only in a body it parsed
  (octosim computes none), which orjson refuses to read: once the ``json`` module read one,
  every later payload of this process goes to ``json``;
* integers beyond 64 bits (orjson reads them as floats and refuses to write them), keys that
  are not strings, subclasses of ``str``/``int``/``dict``/``list``, dates and dataclasses
  (the ``json`` module writes or refuses these its own way), lone surrogates, a byte order
  mark: all go to ``json``.
"""

from __future__ import annotations

import json
import math
from typing import Any

import orjson

_OPTIONS = (
    orjson.OPT_PASSTHROUGH_SUBCLASS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
)

# Set once the json module has read a NaN or an infinity: orjson would write it as null.
_nonfinite_seen = False


def _refuse(value: Any) -> Any:
    raise TypeError(f"not written by orjson: {type(value).__name__}")


def _constant(name: str) -> float:
    global _nonfinite_seen
    _nonfinite_seen = True
    return float(name)  # "NaN", "Infinity", "-Infinity", as the json module reads them


def _float(text: str) -> float:
    global _nonfinite_seen
    value = float(text)
    if not math.isfinite(value):  # 1e400 reads as inf
        _nonfinite_seen = True
    return value


# For the search for long integers: every digit becomes "0", anything else a space.
_DIGITS = bytes(ord("0") if 0x30 <= c <= 0x39 else ord(" ") for c in range(256))
_LONG_RUN = b"0" * 19  # 19 digits may exceed 64 bits (anywhere, strings included)


def loads(raw: bytes | str) -> Any:
    """``json.loads(raw)``: the same value or the same error (``ValueError``)."""
    if isinstance(raw, bytes) and _LONG_RUN not in raw.translate(_DIGITS):
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass  # NaN, a lone surrogate, a byte order mark, not JSON: json decides
    return json.loads(raw, parse_constant=_constant, parse_float=_float)


# For the search for floats in orjson's output (see _may_hold_float): digits and signs are
# dropped, "." and "e" become ".", "," and "[" become "[", ":" and '"' stay, anything else
# becomes a space.
_SHAPES = bytearray(b" " * 256)
for _c, _to in ((b".", b"."), (b"e", b"."), (b",", b"["), (b"[", b"["), (b":", b":"),
                (b'"', b'"')):  # fmt: skip
    _SHAPES[_c[0]] = _to[0]
_SHAPES_TABLE = bytes(_SHAPES)
_DROPPED = b"0123456789+-"


def _may_hold_float(data: bytes) -> bool:
    """Whether orjson's output ``data`` may hold a float. Never wrong when it holds one; may
    say so for text inside a string that looks like one (then ``json`` writes it: slower,
    the same bytes).

    orjson writes a float as -?D+.D+ or -?D+(.D+)?e[+-]D+: "." once digits and signs are
    dropped. Outside strings a number follows "[" or "," (in a list), '":' (an object's
    value) or nothing (the whole document), so a float is a "[.", '":.' or a leading "."."""
    shapes = data.translate(_SHAPES_TABLE, _DROPPED)
    return b"[." in shapes or b'":.' in shapes or shapes.startswith(b".")


def dumps(payload: Any) -> bytes:
    """``json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()``."""
    if not _nonfinite_seen:
        try:
            data = orjson.dumps(payload, default=_refuse, option=_OPTIONS)
        except TypeError:
            pass
        else:
            if not _may_hold_float(data):
                return data
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
