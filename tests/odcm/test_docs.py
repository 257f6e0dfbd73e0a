"""The README documents every ODCM_ variable the code reads."""

import re

from tests.fixtures.processes import ROOT

VARIABLE = re.compile(r"\"(ODCM_[A-Z0-9_]+)\"")
SOURCES = ["odcm", "octopus", "octosim", "spaces", "identity", "sharing", "monitoring", "audit"]
NOT_SETTINGS = {"ODCM_TEST_DATABASE_URL", "ODCM_TEST_REDIS_URL"}


def test_readme_documents_every_setting():
    readme = (ROOT / "README.md").read_text()
    read = set()
    for package in SOURCES:
        for path in (ROOT / package).rglob("*.py"):
            read |= set(VARIABLE.findall(path.read_text()))
    missing = sorted(name for name in read - NOT_SETTINGS if f"`{name}`" not in readme)
    assert not missing, f"add these to the README's configuration table: {missing}"
