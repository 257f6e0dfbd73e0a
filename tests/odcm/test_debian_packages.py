"""`make test` sets up a fresh Debian machine: .ci/debian-packages installs what is missing."""

import subprocess
import sys
from pathlib import Path

from tests.fixtures.processes import ROOT

SCRIPT = ROOT / ".ci" / "debian-packages"


def fake_system(tmp_path: Path, *, uid: int, missing: set[str], node: bool = True) -> Path:
    """A PATH holding stand-ins for dpkg, id and apt-get (the machine's own are never run)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "apt.log"
    tools = {
        "dpkg": f"for p in {' '.join(sorted(missing)) or 'none'}; do "
        '[ "$2" = "$p" ] && exit 1; done; exit 0',
        "id": f"echo {uid}",
        "apt-get": f'echo "$@" >> {log}',
    }
    if node:
        tools["node"] = tools["npm"] = "exit 0"
    for name, body in tools.items():
        path = bin_dir / name
        path.write_text(f"#!/bin/sh\n{body}\n")
        path.chmod(0o755)
    return bin_dir


def run(bin_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["/bin/bash", str(SCRIPT)],
        env={"PATH": str(bin_dir), "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_nothing_missing_installs_nothing_and_says_nothing(tmp_path):
    result = run(fake_system(tmp_path, uid=0, missing=set()))
    assert result.returncode == 0
    assert result.stdout == result.stderr == ""
    assert not (tmp_path / "apt.log").exists()


def test_root_installs_what_is_missing_after_one_apt_update(tmp_path):
    result = run(fake_system(tmp_path, uid=0, missing={"chromium", "slapd"}, node=False))
    assert result.returncode == 0, result.stderr
    calls = (tmp_path / "apt.log").read_text().splitlines()
    assert calls[0] == "update -qq"
    assert calls[1].endswith("install -y -qq --no-install-recommends chromium slapd nodejs npm")
    assert len(calls) == 2


def test_a_user_who_is_not_root_gets_the_one_command_to_run_and_a_stop(tmp_path):
    result = run(fake_system(tmp_path, uid=1000, missing={"libldap2-dev", "libsasl2-dev"}))
    assert result.returncode == 1
    assert "apt-get install -y --no-install-recommends libldap2-dev libsasl2-dev" in result.stderr
    assert not (tmp_path / "apt.log").exists()
