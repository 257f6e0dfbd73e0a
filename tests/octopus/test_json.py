"""Bodies read and written with orjson give what the json module gave, edge cases included."""

from __future__ import annotations

import json
import math

import httpx
import pytest

from octopus import URLPolicy
from octopus._core import ClientCore
from octopus._json import dumps, loads

POLICY = URLPolicy(allow_http=True, allowed_networks=["127.0.0.0/8"])


def test_a_document_reads_as_the_json_module_reads_it() -> None:
    body = (
        b'{"Id": "variableset-1", "Version": 3, "Variables": [{"Name": "\\u00e9", "Value": null}]}'
    )
    assert loads(body) == json.loads(body)


def test_what_orjson_refuses_is_still_read_as_before() -> None:
    assert loads(b'{"Big": 123456789012345678901234567890}') == {
        "Big": 123456789012345678901234567890
    }
    assert math.isnan(loads(b"[NaN]")[0])


def test_what_is_not_json_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        loads(b"<html>")


def test_a_body_is_written_as_httpx_wrote_it() -> None:
    body = {"Name": "Ünïcode", "Scope": {"Environment": ["Environments-1"]}, "Prompt": None}
    legacy = httpx.Request("PUT", "http://127.0.0.1/api", json=body)
    assert dumps(body) == legacy.read()


def test_what_orjson_cannot_write_falls_back_to_the_json_module() -> None:
    assert dumps({1: "a"}) == b'{"1":"a"}'
    assert dumps({"N": 123456789012345678901234567890}) == b'{"N":123456789012345678901234567890}'


def test_nan_is_written_as_null() -> None:
    # httpx's json= refused it; ODCM sends Octopus no floats (octopus._json.dumps)
    assert dumps([float("nan")]) == b"[null]"


def test_a_request_carries_the_json_body_and_its_type() -> None:
    core = ClientCore("http://127.0.0.1:8080", "API-UNITTESTKEY0000000000000", policy=POLICY)
    request = core.build_request(core.call("PUT", "/api/Spaces-1/variables/x", json={"A": [1]}))
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Content-Length"] == str(len(b'{"A":[1]}'))
    assert request.read() == b'{"A":[1]}'
    empty = core.build_request(core.call("GET", "/api/spaces"))
    assert "Content-Type" not in empty.headers and empty.read() == b""
