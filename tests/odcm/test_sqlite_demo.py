"""The demo runs on SQLite: every page reachable from the dashboard renders there too."""

import subprocess
import sys

import pytest

from tests.fixtures.processes import ROOT


@pytest.mark.slow
def test_every_linked_page_renders_on_sqlite(tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "odcm.settings",
        "ODCM_DEBUG": "false",
        "ODCM_SECRET_KEY": "smoke-" + "k3y" * 20,
        "ODCM_ALLOWED_HOSTS": "testserver",
        "ODCM_ENCRYPTION_KEYS": "c21va2UtdGVzdC1rZXktMzItYnl0ZXMtbG9uZy0tLS0=",
        "ODCM_VAR_DIR": str(tmp_path),
        # As in the demo; the instance's port is closed, so pages must cope with it offline.
        "ODCM_ALLOW_HTTP_INSTANCES": "true",
        "ODCM_ALLOWED_PRIVATE_NETWORKS": "127.0.0.0/8",
    }
    result = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "odcm" / "sqlite_smoke.py")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    rendered = int(result.stdout.split("rendered ")[1].split()[0])
    assert rendered >= 20, result.stdout  # the crawl reached the whole product, not one page
