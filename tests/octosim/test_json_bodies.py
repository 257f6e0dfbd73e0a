"""octosim reads and writes bodies with orjson, byte for byte as the json module did."""

from __future__ import annotations

import json
import math
import random
import string
from typing import Any

import pytest

from octosim import _json


def legacy(payload: Any) -> bytes:
    """What octosim wrote before orjson."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def test_a_variable_set_document_is_written_as_before() -> None:
    doc = {
        "Id": "variableset-LibraryVariableSets-1",
        "Version": 3,
        "Variables": [
            {"Id": "5e3b0c1e-0d1a-4f7e-9e2b-3e-4", "Name": "Db.Password", "Value": None,
             "Scope": {"Environment": ["Environments-1"]}, "IsSensitive": True, "Prompt": None},
            {"Id": "a", "Name": "Ünïcode \u2028 \x1f \"q\" \\", "Value": "1.5e-7", "Scope": {}},
        ],
        "LastModifiedOn": "2026-12-01T19:00:00.000+00:00",
        "Links": {"Self": "/octopus/api/Spaces-1/variables/variableset-LibraryVariableSets-1"},
    }  # fmt: skip
    assert _json.dumps(doc) == legacy(doc)


@pytest.mark.parametrize(
    "value",
    [1e-05, 2.5, -0.0, 1e16, 1.5e300, 5e-324, [1, 2.5], {"a": -1e-7}, {"n": 2**64}, {1: "a"}],
)
def test_floats_and_what_orjson_writes_otherwise_are_written_by_the_json_module(
    value: Any,
) -> None:
    # orjson writes 1e-05 as 0.00001 and refuses integers over 64 bits and int keys
    assert _json.dumps(value) == legacy(value)


def test_random_documents_are_written_as_before() -> None:
    rnd = random.Random(13)
    alphabet = string.ascii_letters + string.digits + ':,[]{}."-+e\\/ \u00e9\u2028\x01'

    def text() -> str:
        return "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 12)))

    def scalar() -> Any:
        number = rnd.choice([rnd.uniform(-1e6, 1e6), 10.0 ** rnd.randint(-320, 300), 3.0])
        return rnd.choice([None, True, False, rnd.randint(-(10**18), 10**18), text(), number])

    def document(depth: int = 0) -> Any:
        roll = rnd.random()
        if depth > 3 or roll < 0.3:
            return scalar()
        if roll < 0.65:
            return {text(): document(depth + 1) for _ in range(rnd.randint(0, 5))}
        return [document(depth + 1) for _ in range(rnd.randint(0, 5))]

    for _ in range(3000):
        value = document()
        assert _json.dumps(value) == legacy(value)
        assert repr(_json.loads(legacy(value))) == repr(json.loads(legacy(value)))


def test_bodies_read_as_the_json_module_read_them() -> None:
    assert _json.loads(b'{"Big": 123456789012345678901234567890}') == {
        "Big": 123456789012345678901234567890
    }
    assert _json.loads('"\\ud800"') == "\ud800"  # a lone surrogate: orjson refuses it
    assert _json.loads(b"\xef\xbb\xbf{}") == {}  # a byte order mark
    with pytest.raises(ValueError):
        _json.loads(b"<html>")


def test_after_a_nan_was_read_every_document_is_written_by_the_json_module(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_json, "_nonfinite_seen", False)
    stored = _json.loads(b'{"SortOrder": NaN, "Weight": 1e400}')
    assert math.isnan(stored["SortOrder"]) and stored["Weight"] == math.inf
    # orjson would write null for both
    assert _json.dumps(stored) == b'{"SortOrder":NaN,"Weight":Infinity}'
