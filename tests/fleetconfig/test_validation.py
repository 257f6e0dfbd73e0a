"""A file that cannot be planned: every error, each with its line; nothing is written."""

from __future__ import annotations

import pytest

from fleetconfig.document import InvalidDocument, parse
from fleetconfig.models import Plan
from fleetconfig.services import make_plan
from identity.models import Group

pytestmark = pytest.mark.django_db

BAD = """\
version: 1
instances:
  - name: a
    url: http://127.0.0.1:1/a
    api_key: sk-inline-key
    colour: blue
groups:
  - name: G
    members: [nobody-here]
    grants:
      - role: overlord
        instance: a
  - description: no name
trusts:
  - publisher: {instance: nowhere, space: X}
    subscriber: {instance: a, space: Y}
"""


def test_every_error_is_listed_with_its_line() -> None:
    with pytest.raises(InvalidDocument) as caught:
        parse(BAD)
    found = {(i.line, i.path) for i in caught.value.issues}
    assert (5, "instances[0].api_key") in found
    assert (6, "instances[0].colour") in found
    assert (11, "groups[0].grants[0].role") in found
    assert (13, "groups[1]") in found  # no name
    messages = " ".join(i.message for i in caught.value.issues)
    assert "'colour'" in messages and "'name' is required" in messages
    assert "never written inline" in messages and "viewer, deployer, manager" in messages
    assert "sk-inline-key" not in messages


def test_names_that_do_not_exist_are_errors_with_their_lines(admin_user: object) -> None:
    text = BAD.replace("    api_key: sk-inline-key\n    colour: blue\n", "    api_key: {env: K}\n")
    text = text.replace("      - role: overlord", "      - role: viewer").replace(
        "  - description: no name\n", ""
    )
    plan = make_plan(text)
    assert plan.status == Plan.Status.INVALID
    found = {(i["line"], i["message"]) for i in plan.issues}
    assert any(line == 8 and "nobody-here" in msg for line, msg in found), found
    assert any(line == 13 and "nowhere" in msg for line, msg in found), found
    assert any(line == 5 and "variable K is not set" in msg for line, msg in found), found
    assert not Group.objects.exists()


def test_yaml_syntax_errors_name_their_line() -> None:
    with pytest.raises(InvalidDocument) as caught:
        parse("version: 1\ngroups:\n  - name: [unclosed\n")
    assert caught.value.issues[0].line == 4 or caught.value.issues[0].line == 3


def test_an_unsupported_schema_version_names_both_versions() -> None:
    with pytest.raises(InvalidDocument) as caught:
        parse("version: 7\n")
    (issue,) = caught.value.issues
    assert issue.line == 1 and "7" in issue.message and "reads 1" in issue.message


def test_a_secret_reference_that_does_not_resolve_is_an_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("NO_SUCH_KEY_VARIABLE", raising=False)
    text = (
        "version: 1\ninstances:\n  - name: a\n    url: http://x\n"
        "    api_key: {env: NO_SUCH_KEY_VARIABLE}\n"
    )
    plan = make_plan(text)
    assert plan.status == Plan.Status.INVALID
    assert plan.issues == [
        {
            "line": 5,
            "path": "instances[0].api_key",
            "message": "The API key: the environment variable NO_SUCH_KEY_VARIABLE is not set.",
        }
    ]
