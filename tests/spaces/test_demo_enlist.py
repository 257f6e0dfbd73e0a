"""`manage.py demo_enlist var/octosim-instances.json`, as `make demo` runs it (twice)."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from identity.models import User
from octosim.testing import SimInstance
from spaces.models import Instance

pytestmark = pytest.mark.django_db


def _run(path: Path) -> str:
    out = io.StringIO()
    call_command("demo_enlist", str(path), stdout=out)
    return out.getvalue()


def test_demo_enlist_is_idempotent_and_prints_one_line_per_instance(
    make_sim_instance: Callable[..., SimInstance], admin_user: User, tmp_path: Path
) -> None:
    sims = [make_sim_instance("brisbane", spaces=4), make_sim_instance("us-east", spaces=2)]
    path = tmp_path / "octosim-instances.json"
    path.write_text(json.dumps([
        {"name": s.name, "url": s.url, "api_key": s.api_key, "version": s.version} for s in sims
    ]))  # fmt: skip
    first = _run(path).splitlines()
    assert len(first) == 4
    assert first[0].startswith("brisbane: enlisted 4 spaces")
    # Each demo instance shows "Sign in with ODCM" (docs/identity.md).
    assert first[1] == "brisbane: sign-in through ODCM configured"
    assert Instance.objects.get(name="us-east").spaces.count() == 2
    assert Instance.objects.get(name="brisbane").region == "APAC"
    second = _run(path).splitlines()
    assert second == ["brisbane: already enlisted as brisbane, skipped",
                      "us-east: already enlisted as us-east, skipped"]  # fmt: skip
    assert Instance.objects.count() == 2
    for sim in sims:
        assert sim.api_key not in "".join(first + second)


def test_demo_enlist_fails_loudly_for_an_unreachable_instance(
    admin_user: User, tmp_path: Path
) -> None:
    path = tmp_path / "octosim-instances.json"
    path.write_text(json.dumps([{"name": "x", "url": "http://127.0.0.1:9/x", "api_key": "API-X"}]))
    with pytest.raises(CommandError):
        _run(path)
    assert not Instance.objects.exists()
